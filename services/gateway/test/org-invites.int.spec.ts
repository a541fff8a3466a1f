import type { AuthResponse, OrgInviteResponse, OrgMembersResponse } from '@quire/contracts';
import type { Pool } from 'pg';
import {
  api,
  bootApiGateway,
  createNotebook,
  type GatewayUnderTest,
  type ServiceProcess,
  signup,
  testPool,
  uniqueEmail,
} from './support/harness';

jest.setTimeout(120_000);

const PASSWORD = 'correct horse battery';

/** Org members and invitations: invite by email with a role, join by signing up or by accepting signed in. */
describe('org members and invites', () => {
  let docSync: ServiceProcess;
  let gw: GatewayUnderTest;
  let pg: Pool;
  let admin: AuthResponse;

  beforeAll(async () => {
    ({ gw, docSync } = await bootApiGateway());
    pg = testPool('gw-org-test');
    admin = await signup(gw.base, 'admin', 'Invite Org');
  });

  afterAll(async () => {
    await gw?.close();
    await docSync?.stop();
    await pg?.end();
  });

  const invite = (token: string, body?: unknown) =>
    api<OrgInviteResponse & { code?: string; detail?: string }>(gw.base, 'POST', '/api/org/invites', {
      token,
      ...(body !== undefined ? { body } : {}),
    });
  const members = (token: string) => api<OrgMembersResponse>(gw.base, 'GET', '/api/org/members', { token });
  const signupWith = (email: string, inviteToken: string) =>
    api<AuthResponse & { code?: string }>(gw.base, 'POST', '/api/auth/signup', {
      body: { email, name: email.split('@')[0], password: PASSWORD, invite: inviteToken },
    });
  const accept = (token: string, inviteToken: string) =>
    api<AuthResponse & { code?: string }>(
      gw.base,
      'POST',
      `/api/org/invites/${encodeURIComponent(inviteToken)}/accept`,
      { token },
    );

  it('invites by email: only that email can use it, once, and joins with the role; the members page shows it all', async () => {
    const bobEmail = uniqueEmail('bob');
    const inv = await invite(admin.token, { email: bobEmail.toUpperCase(), role: 'member' });
    expect(inv.status).toBe(201);
    expect(inv.body).toMatchObject({ email: bobEmail, role: 'member' });
    expect(inv.body.url).toBe(`${gw.base}/join/${inv.body.invite}`);

    // The join page's preview, before anyone signs in.
    const preview = await api<Record<string, unknown>>(gw.base, 'GET', `/api/org/invites/${inv.body.invite}`);
    expect(preview.status).toBe(200);
    expect(preview.body).toEqual({
      orgName: 'Invite Org',
      invitedBy: 'admin',
      email: bobEmail,
      role: 'member',
      expiresAt: inv.body.expiresAt,
    });

    const before = await members(admin.token);
    expect(before.status).toBe(200);
    expect(before.body.org).toMatchObject({ id: admin.org.id, name: 'Invite Org', role: 'admin' });
    expect(before.body.members).toEqual([
      { userId: admin.user.id, email: admin.user.email, name: 'admin', role: 'admin' },
    ]);
    expect(before.body.invites).toContainEqual(
      expect.objectContaining({
        invite: inv.body.invite,
        email: bobEmail,
        role: 'member',
        url: inv.body.url,
      }),
    );

    // Someone else with the link: refused, and nothing is created (no account, invite still pending).
    const mallory = uniqueEmail('mallory');
    const wrong = await signupWith(mallory, inv.body.invite);
    expect(wrong.status).toBe(403);
    expect(wrong.body.code).toBe('org.invite_other_email');
    const noAccount = await api(gw.base, 'POST', '/api/auth/login', {
      body: { email: mallory, password: PASSWORD },
    });
    expect(noAccount.status).toBe(401);
    expect((await members(admin.token)).body.invites.map((i) => i.invite)).toContain(inv.body.invite);

    const bob = await signupWith(bobEmail, inv.body.invite);
    expect(bob.status).toBe(201);
    expect(bob.body.org).toEqual({ id: admin.org.id, name: 'Invite Org', role: 'member' });

    const usedPreview = await api<{ code: string }>(gw.base, 'GET', `/api/org/invites/${inv.body.invite}`);
    expect(usedPreview.status).toBe(404);
    expect(usedPreview.body.code).toBe('auth.invite_invalid');
    const again = await signupWith(uniqueEmail('bob2'), inv.body.invite);
    expect(again.status).toBe(400);
    expect(again.body.code).toBe('auth.invite_invalid');

    const after = await members(admin.token);
    expect(after.body.members.map((m) => [m.email, m.role])).toContainEqual([bobEmail, 'member']);
    expect(after.body.invites.map((i) => i.invite)).not.toContain(inv.body.invite);

    // Inviting a member again is a clear conflict; a member is not an admin.
    const dup = await invite(admin.token, { email: bobEmail });
    expect(dup.status).toBe(409);
    expect((dup.body as { code?: string }).code).toBe('org.already_member');
    expect((await members(bob.body.token)).status).toBe(403);
    expect((await invite(bob.body.token, {})).status).toBe(403);
  });

  it('refuses bad invite input naming every problem, and still accepts the original empty request', async () => {
    const bad = await invite(admin.token, { email: 'not-an-email', role: 'owner' });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/email/);
    expect(bad.body.detail).toMatch(/role/);
    const open = await invite(admin.token);
    expect(open.status).toBe(201);
    expect(open.body).toMatchObject({ email: null, role: 'member' });
  });

  it('a signed-in user of another org accepts an admin invite: joins with that role and gets a session in the org', async () => {
    const carol = await signup(gw.base, 'carol', 'Carol Org');
    const nb = await createNotebook(gw.base, admin.token, 'For carol');
    const inv = await invite(admin.token, { email: carol.user.email, role: 'admin' });
    const joined = await accept(carol.token, inv.body.invite);
    expect(joined.status).toBe(200);
    expect(joined.body.org).toEqual({ id: admin.org.id, name: 'Invite Org', role: 'admin' });
    expect(joined.body.user.id).toBe(carol.user.id);
    const me = await api<{ org: { id: string } }>(gw.base, 'GET', '/api/me', { token: joined.body.token });
    expect(me.body.org.id).toBe(admin.org.id);
    // Shared with her in the new org, the notebook is in her list there (not in her own org's list).
    const put = await api(gw.base, 'PUT', `/api/notebooks/${nb.id}/shares`, {
      token: admin.token,
      body: { shares: [{ email: carol.user.email, role: 'viewer' }] },
    });
    expect(put.status).toBe(200);
    const list = await api<{ notebooks: { id: string }[] }>(gw.base, 'GET', '/api/notebooks', {
      token: joined.body.token,
    });
    expect(list.body.notebooks.map((n) => n.id)).toContain(nb.id);
    const own = await api<{ notebooks: { id: string }[] }>(gw.base, 'GET', '/api/notebooks', {
      token: carol.token,
    });
    expect(own.body.notebooks.map((n) => n.id)).not.toContain(nb.id);
    // Clicking the link again is harmless: same org, same role.
    const twice = await accept(carol.token, inv.body.invite);
    expect(twice.status).toBe(200);
    expect(twice.body.org.role).toBe('admin');
    // The other email is refused when accepting too.
    const dave = await signup(gw.base, 'dave');
    const forCarol = await invite(admin.token, { email: uniqueEmail('someone') });
    const refused = await accept(dave.token, forCarol.body.invite);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('org.invite_other_email');
    const nope = await accept(dave.token, 'no-such-invite-token');
    expect(nope.status).toBe(400);
    expect(nope.body.code).toBe('auth.invite_invalid');
  });

  it('revoked and expired invites do not work; another org cannot revoke mine', async () => {
    const revoked = await invite(admin.token, {});
    const other = await signup(gw.base, 'other-admin', 'Other Org');
    const foreign = await api<{ code: string }>(
      gw.base,
      'DELETE',
      `/api/org/invites/${revoked.body.invite}`,
      {
        token: other.token,
      },
    );
    expect(foreign.status).toBe(404);
    const del = await api(gw.base, 'DELETE', `/api/org/invites/${revoked.body.invite}`, {
      token: admin.token,
    });
    expect(del.status).toBe(204);
    expect((await signupWith(uniqueEmail('late'), revoked.body.invite)).status).toBe(400);
    const delAgain = await api(gw.base, 'DELETE', `/api/org/invites/${revoked.body.invite}`, {
      token: admin.token,
    });
    expect(delAgain.status).toBe(404);

    const expired = await invite(admin.token, {});
    await pg.query(
      `UPDATE gateway.org_invites SET expires_at = now() - interval '1 minute' WHERE token = $1`,
      [expired.body.invite],
    );
    const late = await signupWith(uniqueEmail('late'), expired.body.invite);
    expect(late.status).toBe(400);
    expect(late.body.code).toBe('auth.invite_invalid');
    expect((await members(admin.token)).body.invites.map((i) => i.invite)).not.toContain(expired.body.invite);
  });
});
