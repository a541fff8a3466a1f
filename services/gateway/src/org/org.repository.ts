import { randomBytes } from 'node:crypto';
import type { OrgMemberDto, OrgRole } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { Pool } from 'pg';
import { assertUsable, lockInvite, markUsed } from './org-invites';

export interface PendingInviteRow {
  token: string;
  email: string | null;
  role: OrgRole;
  createdAt: Date;
  expiresAt: Date;
}

/** An org's members and invitations (gateway schema: org_members, org_invites). */
export class OrgRepository {
  constructor(private readonly pg: Pool) {}

  async members(orgId: string): Promise<OrgMemberDto[]> {
    const r = await this.pg.query(
      `SELECT u.id, u.email, u.display_name, m.role FROM gateway.org_members m
         JOIN gateway.users u ON u.id = m.user_id
        WHERE m.org_id = $1 ORDER BY m.role, lower(u.display_name), u.email`,
      [orgId],
    );
    return r.rows.map((row: Record<string, string>) => ({
      userId: row.id!,
      email: row.email!,
      name: row.display_name!,
      role: row.role as OrgRole,
    }));
  }

  async pendingInvites(orgId: string): Promise<PendingInviteRow[]> {
    const r = await this.pg.query(
      `SELECT token, email, role, created_at, expires_at FROM gateway.org_invites
        WHERE org_id = $1 AND used_by IS NULL AND expires_at > now() ORDER BY created_at DESC LIMIT 200`,
      [orgId],
    );
    return r.rows.map((row: Record<string, unknown>) => ({
      token: row.token as string,
      email: (row.email as string | null) ?? null,
      role: row.role as OrgRole,
      createdAt: row.created_at as Date,
      expiresAt: row.expires_at as Date,
    }));
  }

  /** A pending invite by token, for the join page (null: unknown, used or expired). */
  async preview(token: string): Promise<{
    orgName: string;
    invitedBy: string;
    email: string | null;
    role: OrgRole;
    expiresAt: Date;
  } | null> {
    const r = await this.pg.query(
      `SELECT o.name AS org_name, u.display_name AS invited_by, i.email, i.role, i.expires_at
         FROM gateway.org_invites i JOIN gateway.orgs o ON o.id = i.org_id JOIN gateway.users u ON u.id = i.created_by
        WHERE i.token = $1 AND i.used_by IS NULL AND i.expires_at > now()`,
      [token],
    );
    const row = r.rows[0] as Record<string, unknown> | undefined;
    if (!row) return null;
    return {
      orgName: row.org_name as string,
      invitedBy: row.invited_by as string,
      email: (row.email as string | null) ?? null,
      role: row.role as OrgRole,
      expiresAt: row.expires_at as Date,
    };
  }

  async createInvite(
    orgId: string,
    createdBy: string,
    opts: { email: string | null; role: OrgRole; ttlMs: number },
  ): Promise<PendingInviteRow> {
    if (opts.email) {
      const member = await this.pg.query(
        `SELECT 1 FROM gateway.org_members m JOIN gateway.users u ON u.id = m.user_id
          WHERE m.org_id = $1 AND u.email = $2`,
        [orgId, opts.email],
      );
      if (member.rowCount)
        throw new QuireError(
          'conflict',
          `${opts.email} is already a member of this org`,
          'org.already_member',
        );
    }
    const token = randomBytes(24).toString('base64url');
    const r = await this.pg.query(
      `INSERT INTO gateway.org_invites (token, org_id, created_by, expires_at, email, role)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at, expires_at`,
      [token, orgId, createdBy, new Date(Date.now() + opts.ttlMs), opts.email, opts.role],
    );
    const row = r.rows[0] as { created_at: Date; expires_at: Date };
    return {
      token,
      email: opts.email,
      role: opts.role,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  }

  /** Revokes a pending invite of this org; false when there is none (used, expired, another org's). */
  async revokeInvite(orgId: string, token: string): Promise<boolean> {
    const r = await this.pg.query(
      'DELETE FROM gateway.org_invites WHERE token = $1 AND org_id = $2 AND used_by IS NULL',
      [token, orgId],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /**
   * A signed-in user joins the invite's org with its role. Someone already in
   * that org keeps their role and leaves the invite unused (clicking the link
   * twice is harmless). Either way it becomes the org they used last: they get
   * a session there, and their next sign-in lands there too.
   */
  async accept(token: string, user: { id: string; email: string }): Promise<{ orgId: string }> {
    const client = await this.pg.connect();
    try {
      await client.query('BEGIN');
      const invite = await lockInvite(client, token);
      if (invite) {
        const member = await client.query(
          'SELECT 1 FROM gateway.org_members WHERE org_id = $1 AND user_id = $2',
          [invite.orgId, user.id],
        );
        if (member.rowCount) {
          await client.query(
            'UPDATE gateway.org_members SET last_used_at = now() WHERE org_id = $1 AND user_id = $2',
            [invite.orgId, user.id],
          );
          await client.query('COMMIT');
          return { orgId: invite.orgId };
        }
      }
      assertUsable(invite, user.email);
      await client.query(
        'INSERT INTO gateway.org_members (org_id, user_id, role, last_used_at) VALUES ($1, $2, $3, now())',
        [invite.orgId, user.id, invite.role],
      );
      await markUsed(client, token, user.id);
      await client.query('COMMIT');
      return { orgId: invite.orgId };
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }
}
