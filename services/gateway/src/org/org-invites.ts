import { QuireError } from '@quire/service-kit';
import type { PoolClient } from 'pg';

export interface InviteRow {
  token: string;
  orgId: string;
  orgName: string;
  email: string | null;
  role: 'admin' | 'member';
  expiresAt: Date;
  usedBy: string | null;
}

/** The invite, locked for this transaction (two people clicking one single-use link: one wins). */
export async function lockInvite(client: PoolClient, token: string): Promise<InviteRow | null> {
  const r = await client.query(
    `SELECT i.token, i.org_id, o.name AS org_name, i.email, i.role, i.expires_at, i.used_by
       FROM gateway.org_invites i JOIN gateway.orgs o ON o.id = i.org_id
      WHERE i.token = $1 FOR UPDATE OF i`,
    [token],
  );
  const row = r.rows[0] as Record<string, unknown> | undefined;
  if (!row) return null;
  return {
    token: row.token as string,
    orgId: row.org_id as string,
    orgName: row.org_name as string,
    email: (row.email as string | null) ?? null,
    role: row.role as 'admin' | 'member',
    expiresAt: row.expires_at as Date,
    usedBy: (row.used_by as string | null) ?? null,
  };
}

/** Refuses an invite that cannot be used by this email now, with a reason a person can act on. */
export function assertUsable(invite: InviteRow | null, email: string): asserts invite is InviteRow {
  if (!invite || invite.usedBy !== null || invite.expiresAt.getTime() <= Date.now())
    throw new QuireError(
      'validation',
      'this invitation is not valid (used or expired); ask for a new one',
      'auth.invite_invalid',
    );
  if (invite.email !== null && invite.email !== email)
    throw new QuireError(
      'forbidden',
      `this invitation is for ${invite.email}; sign in or sign up with that email`,
      'org.invite_other_email',
    );
}

export async function markUsed(client: PoolClient, token: string, userId: string): Promise<void> {
  await client.query('UPDATE gateway.org_invites SET used_by = $2, used_at = now() WHERE token = $1', [
    token,
    userId,
  ]);
}

/**
 * Uses up an invite for a user being created in the same transaction (sign-up
 * with an invite). Throws — and the caller rolls the whole sign-up back —
 * when it is not usable.
 */
export async function claimInviteForNewUser(
  client: PoolClient,
  token: string,
  userId: string,
  email: string,
): Promise<{ id: string; name: string; role: 'admin' | 'member' }> {
  const invite = await lockInvite(client, token);
  assertUsable(invite, email);
  await markUsed(client, token, userId);
  return { id: invite.orgId, name: invite.orgName, role: invite.role };
}
