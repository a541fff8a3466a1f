import { uuidv7, type OrgDto } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { Pool } from 'pg';
import { claimInviteForNewUser } from '../org/org-invites';

export interface UserRow {
  id: string;
  email: string;
  name: string;
  orgId: string;
  orgName: string;
  orgRole: 'admin' | 'member';
}

/** Users, their org and credentials in the `gateway` schema. */
export class UsersRepository {
  constructor(private readonly pg: Pool) {}

  /**
   * Creates the user with their password hash, in one transaction: in a new
   * org (they are its admin), or — with an invitation — in the inviting org
   * with the invitation's role (it is used up; one naming an email only
   * works for that email, and a bad one creates nothing).
   */
  async create(input: {
    email: string;
    name: string;
    orgName: string;
    passwordHash: string;
    invite?: string;
  }): Promise<UserRow> {
    const client = await this.pg.connect();
    try {
      await client.query('BEGIN');
      const userId = `u-${uuidv7()}`;
      const inserted = await client.query(
        `INSERT INTO gateway.users (id, email, display_name) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING`,
        [userId, input.email, input.name],
      );
      if (inserted.rowCount === 0) {
        throw new QuireError(
          'conflict',
          'an account with this email exists; sign in instead',
          'auth.email_taken',
        );
      }
      let org: { id: string; name: string; role: 'admin' | 'member' };
      if (input.invite) {
        org = await claimInviteForNewUser(client, input.invite, userId, input.email);
      } else {
        org = { id: `o-${uuidv7()}`, name: input.orgName, role: 'admin' };
        await client.query('INSERT INTO gateway.orgs (id, name) VALUES ($1, $2)', [org.id, org.name]);
      }
      // The org they sign up into is the one they use: the next sign-in lands there.
      await client.query(
        `INSERT INTO gateway.org_members (org_id, user_id, role, last_used_at) VALUES ($1, $2, $3, now())`,
        [org.id, userId, org.role],
      );
      await client.query('INSERT INTO gateway.user_credentials (user_id, password_hash) VALUES ($1, $2)', [
        userId,
        input.passwordHash,
      ]);
      await client.query('COMMIT');
      return {
        id: userId,
        email: input.email,
        name: input.name,
        orgId: org.id,
        orgName: org.name,
        orgRole: org.role,
      };
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }

  /** The user with credentials, in the org they used last (none remembered: their oldest org). */
  async findByEmail(email: string): Promise<(UserRow & { passwordHash: string }) | null> {
    const r = await this.pg.query(
      `${SELECT}, c.password_hash FROM gateway.users u
         JOIN gateway.org_members m ON m.user_id = u.id JOIN gateway.orgs o ON o.id = m.org_id
         JOIN gateway.user_credentials c ON c.user_id = u.id
        WHERE u.email = $1 ORDER BY m.last_used_at DESC NULLS LAST, o.created_at, o.id LIMIT 1`,
      [email],
    );
    const row = r.rows[0];
    return row ? { ...toUser(row), passwordHash: row.password_hash } : null;
  }

  async find(userId: string, orgId: string): Promise<UserRow | null> {
    const r = await this.pg.query(
      `${SELECT} FROM gateway.users u
         JOIN gateway.org_members m ON m.user_id = u.id JOIN gateway.orgs o ON o.id = m.org_id
        WHERE u.id = $1 AND o.id = $2`,
      [userId, orgId],
    );
    return r.rows[0] ? toUser(r.rows[0]) : null;
  }

  /** Every org the user belongs to, with their role there, by name (the web editor's org switcher). */
  async orgsOf(userId: string): Promise<OrgDto[]> {
    const r = await this.pg.query(
      `SELECT o.id, o.name, m.role FROM gateway.org_members m JOIN gateway.orgs o ON o.id = m.org_id
        WHERE m.user_id = $1 ORDER BY lower(o.name), o.created_at, o.id`,
      [userId],
    );
    return r.rows.map((row: Record<string, string>) => ({
      id: row.id!,
      name: row.name!,
      role: row.role as OrgDto['role'],
    }));
  }

  /** Remembers that the user works in this org now (a plain sign-in lands here next time). */
  async markOrgUsed(userId: string, orgId: string): Promise<void> {
    await this.pg.query(
      'UPDATE gateway.org_members SET last_used_at = now() WHERE user_id = $1 AND org_id = $2',
      [userId, orgId],
    );
  }

  /** Users of one org by email (sharing names people by email). */
  async findInOrg(orgId: string, emails: string[]): Promise<UserRow[]> {
    if (emails.length === 0) return [];
    const r = await this.pg.query(
      `${SELECT} FROM gateway.users u
         JOIN gateway.org_members m ON m.user_id = u.id JOIN gateway.orgs o ON o.id = m.org_id
        WHERE o.id = $1 AND u.email = ANY($2)`,
      [orgId, emails],
    );
    return r.rows.map(toUser);
  }
}

const SELECT = `SELECT u.id, u.email, u.display_name, o.id AS org_id, o.name AS org_name, m.role AS org_role`;

function toUser(row: Record<string, string>): UserRow {
  return {
    id: row.id!,
    email: row.email!,
    name: row.display_name!,
    orgId: row.org_id!,
    orgName: row.org_name!,
    orgRole: row.org_role as 'admin' | 'member',
  };
}

const PALETTE = [
  '#e6194b',
  '#3cb44b',
  '#4363d8',
  '#f58231',
  '#911eb4',
  '#42d4f4',
  '#f032e6',
  '#469990',
  '#9a6324',
  '#800000',
];

/** A stable presence colour per user. */
export function userColor(userId: string): string {
  let h = 0;
  for (const ch of userId) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length]!;
}
