import { randomBytes } from 'node:crypto';
import type { LinkAccess, NotebookRole } from '@quire/contracts';
import type { Pool } from 'pg';

export interface NotebookRow {
  id: string;
  orgId: string;
  ownerId: string;
  title: string;
  kernelId: string;
  linkAccess: LinkAccess;
  linkToken: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface MemberRow {
  userId: string;
  email: string;
  name: string;
  role: Exclude<NotebookRole, 'owner'>;
}

/** Notebook metadata and access lists (`gateway.notebooks`, `gateway.notebook_members`). */
export class NotebooksRepository {
  constructor(private readonly pg: Pool) {}

  async insert(nb: {
    id: string;
    orgId: string;
    ownerId: string;
    title: string;
    kernelId: string;
  }): Promise<NotebookRow> {
    const r = await this.pg.query(
      `INSERT INTO gateway.notebooks (id, org_id, owner_id, title, kernel_id) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
      [nb.id, nb.orgId, nb.ownerId, nb.title, nb.kernelId],
    );
    return toRow(r.rows[0]);
  }

  async get(id: string): Promise<NotebookRow | null> {
    const r = await this.pg.query('SELECT * FROM gateway.notebooks WHERE id = $1', [id]);
    return r.rows[0] ? toRow(r.rows[0]) : null;
  }

  async byLinkToken(token: string): Promise<NotebookRow | null> {
    const r = await this.pg.query(
      `SELECT * FROM gateway.notebooks WHERE link_token = $1 AND link_access <> 'none'`,
      [token],
    );
    return r.rows[0] ? toRow(r.rows[0]) : null;
  }

  /** The caller's role: owner, else their membership; null = no access. */
  async roleOf(nb: NotebookRow, userId: string): Promise<NotebookRole | null> {
    if (nb.ownerId === userId) return 'owner';
    const r = await this.pg.query(
      'SELECT role FROM gateway.notebook_members WHERE notebook_id = $1 AND user_id = $2',
      [nb.id, userId],
    );
    return (r.rows[0]?.role as NotebookRole | undefined) ?? null;
  }

  /** Notebooks a user can open in an org, with their role. */
  async listFor(orgId: string, userId: string): Promise<(NotebookRow & { role: NotebookRole })[]> {
    const r = await this.pg.query(
      `SELECT n.*, CASE WHEN n.owner_id = $2 THEN 'owner' ELSE m.role END AS my_role
         FROM gateway.notebooks n
         LEFT JOIN gateway.notebook_members m ON m.notebook_id = n.id AND m.user_id = $2
        WHERE n.org_id = $1 AND (n.owner_id = $2 OR m.user_id IS NOT NULL)
        ORDER BY n.updated_at DESC`,
      [orgId, userId],
    );
    return r.rows.map((row) => ({ ...toRow(row), role: row.my_role as NotebookRole }));
  }

  async rename(id: string, title: string): Promise<NotebookRow> {
    const r = await this.pg.query(
      'UPDATE gateway.notebooks SET title = $2, updated_at = now() WHERE id = $1 RETURNING *',
      [id, title],
    );
    return toRow(r.rows[0]);
  }

  async touch(id: string): Promise<void> {
    await this.pg.query('UPDATE gateway.notebooks SET updated_at = now() WHERE id = $1', [id]);
  }

  async delete(id: string): Promise<void> {
    await this.pg.query('DELETE FROM gateway.notebooks WHERE id = $1', [id]);
  }

  async members(id: string): Promise<MemberRow[]> {
    const r = await this.pg.query(
      `SELECT m.user_id, u.email, u.display_name, m.role FROM gateway.notebook_members m
         JOIN gateway.users u ON u.id = m.user_id WHERE m.notebook_id = $1 ORDER BY u.email`,
      [id],
    );
    return r.rows.map((row) => ({
      userId: row.user_id,
      email: row.email,
      name: row.display_name,
      role: row.role,
    }));
  }

  /** Replaces the member list and the link setting in one transaction; a changed link gets a new token. */
  async replaceShares(
    nb: NotebookRow,
    members: { userId: string; role: MemberRow['role'] }[],
    link: LinkAccess,
  ): Promise<NotebookRow> {
    const client = await this.pg.connect();
    try {
      await client.query('BEGIN');
      await client.query('DELETE FROM gateway.notebook_members WHERE notebook_id = $1', [nb.id]);
      for (const m of members) {
        if (m.userId === nb.ownerId) continue;
        await client.query(
          'INSERT INTO gateway.notebook_members (notebook_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
          [nb.id, m.userId, m.role],
        );
      }
      const token =
        link === 'none' ? null : link === nb.linkAccess && nb.linkToken ? nb.linkToken : newLinkToken();
      const r = await client.query(
        'UPDATE gateway.notebooks SET link_access = $2, link_token = $3, updated_at = now() WHERE id = $1 RETURNING *',
        [nb.id, link, token],
      );
      await client.query('COMMIT');
      return toRow(r.rows[0]);
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }

  /** Grants a role unless the user already has one at least as strong. */
  async grant(notebookId: string, userId: string, role: MemberRow['role']): Promise<void> {
    await this.pg.query(
      `INSERT INTO gateway.notebook_members (notebook_id, user_id, role) VALUES ($1, $2, $3)
       ON CONFLICT (notebook_id, user_id) DO UPDATE SET role = EXCLUDED.role
       WHERE (CASE gateway.notebook_members.role WHEN 'viewer' THEN 0 WHEN 'runner' THEN 1 ELSE 2 END)
           < (CASE EXCLUDED.role WHEN 'viewer' THEN 0 WHEN 'runner' THEN 1 ELSE 2 END)`,
      [notebookId, userId, role],
    );
  }
}

function newLinkToken(): string {
  return randomBytes(24).toString('base64url');
}

function toRow(row: Record<string, unknown>): NotebookRow {
  return {
    id: row.id as string,
    orgId: row.org_id as string,
    ownerId: row.owner_id as string,
    title: row.title as string,
    kernelId: row.kernel_id as string,
    linkAccess: row.link_access as LinkAccess,
    linkToken: (row.link_token as string | null) ?? null,
    createdAt: (row.created_at as Date).toISOString(),
    updatedAt: (row.updated_at as Date).toISOString(),
  };
}
