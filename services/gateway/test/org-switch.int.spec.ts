import type { AuthResponse, ListNotebooksResponse, MeResponse, NotebookSummary } from '@quire/contracts';
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
type Problem = { code?: string; detail?: string };

/**
 * A person in two orgs (their own, and one they joined by invitation): /api/me
 * lists both, switch-org moves the session, each org's token sees that org's
 * notebooks only, and a plain sign-in lands in the org used last.
 */
describe('switching between orgs', () => {
  let docSync: ServiceProcess;
  let gw: GatewayUnderTest;
  let pg: Pool;
  /** Dana's own org is the OLDER one: landing in the joined org proves "last used", not "oldest". */
  let dana: AuthResponse;
  let ann: AuthResponse;
  let outsider: AuthResponse;
  let danaNotes: NotebookSummary;
  let teamPlan: NotebookSummary;
  let inTeam: AuthResponse;

  beforeAll(async () => {
    ({ gw, docSync } = await bootApiGateway());
    pg = testPool('gw-org-switch-test');
    dana = await signup(gw.base, 'dana', 'Dana Org');
    ann = await signup(gw.base, 'ann', 'Team Org');
    outsider = await signup(gw.base, 'outsider', 'Outsider Org');
    danaNotes = await createNotebook(gw.base, dana.token, 'Dana notes');
    teamPlan = await createNotebook(gw.base, ann.token, 'Team plan');
  });

  afterAll(async () => {
    await gw?.close();
    await docSync?.stop();
    await pg?.end();
  });

  const me = (token: string) => api<MeResponse & Problem>(gw.base, 'GET', '/api/me', { token });
  const switchOrg = (token: string | undefined, body: unknown) =>
    api<AuthResponse & Problem>(gw.base, 'POST', '/api/auth/switch-org', {
      ...(token ? { token } : {}),
      body,
    });
  const login = (extra: Record<string, unknown> = {}) =>
    api<AuthResponse & Problem>(gw.base, 'POST', '/api/auth/login', {
      body: { email: dana.user.email, password: PASSWORD, ...extra },
    });
  const titles = async (token: string) => {
    const r = await api<ListNotebooksResponse>(gw.base, 'GET', '/api/notebooks', { token });
    expect(r.status).toBe(200);
    return r.body.notebooks.map((n) => n.title);
  };

  it('one org: /api/me lists just it', async () => {
    const r = await me(dana.token);
    expect(r.status).toBe(200);
    expect(r.body.orgs).toEqual([{ id: dana.org.id, name: 'Dana Org', role: 'admin' }]);
  });

  it('joining a second org by invite: /api/me lists both with the role in each, and sign-in lands in the joined org', async () => {
    const inv = await api<{ invite: string }>(gw.base, 'POST', '/api/org/invites', {
      token: ann.token,
      body: { email: dana.user.email, role: 'member' },
    });
    expect(inv.status).toBe(201);
    const joined = await api<AuthResponse>(
      gw.base,
      'POST',
      `/api/org/invites/${encodeURIComponent(inv.body.invite)}/accept`,
      { token: dana.token },
    );
    expect(joined.status).toBe(200);
    inTeam = joined.body;
    expect(inTeam.org).toEqual({ id: ann.org.id, name: 'Team Org', role: 'member' });

    const both = [
      { id: dana.org.id, name: 'Dana Org', role: 'admin' },
      { id: ann.org.id, name: 'Team Org', role: 'member' },
    ];
    for (const token of [dana.token, inTeam.token]) expect((await me(token)).body.orgs).toEqual(both);
    expect((await me(inTeam.token)).body.org).toEqual(both[1]);

    // Dana Org is her oldest: before last-used was remembered, this landed there.
    const signedIn = await login();
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.org).toEqual(both[1]);
  });

  it('switches to the other org and sees that org’s notebooks only; the old token still works in its org', async () => {
    const put = await api(gw.base, 'PUT', `/api/notebooks/${teamPlan.id}/shares`, {
      token: ann.token,
      body: { shares: [{ email: dana.user.email, role: 'viewer' }] },
    });
    expect(put.status).toBe(200);
    expect(await titles(inTeam.token)).toEqual(['Team plan']);

    const sw = await switchOrg(inTeam.token, { orgId: dana.org.id });
    expect(sw.status).toBe(200);
    expect(sw.body.org).toEqual({ id: dana.org.id, name: 'Dana Org', role: 'admin' });
    expect(sw.body.user).toEqual(dana.user);
    expect(Date.parse(sw.body.expiresAt)).toBeGreaterThan(Date.now());
    expect((await me(sw.body.token)).body.org.id).toBe(dana.org.id);
    expect(await titles(sw.body.token)).toEqual(['Dana notes']);
    // A token carries one org: the Team notebook is another org's from here, Dana's notebook from there.
    const cross = await api<Problem>(gw.base, 'GET', `/api/notebooks/${teamPlan.id}`, {
      token: sw.body.token,
    });
    expect(cross.status).toBe(403);
    expect(cross.body.code).toBe('access.other_org');
    expect(
      (await api(gw.base, 'GET', `/api/notebooks/${danaNotes.id}`, { token: inTeam.token })).status,
    ).toBe(403);
    expect(await titles(inTeam.token)).toEqual(['Team plan']);

    // Sign-in follows the switch, both ways.
    expect((await login()).body.org.id).toBe(dana.org.id);
    const back = await switchOrg(sw.body.token, { orgId: ann.org.id });
    expect(back.status).toBe(200);
    expect(back.body.org).toEqual({ id: ann.org.id, name: 'Team Org', role: 'member' });
    expect((await login()).body.org.id).toBe(ann.org.id);
  });

  it('signs in to the org named by orgId (and remembers it); a non-member org is 403 only after the right password', async () => {
    const inOwn = await login({ orgId: dana.org.id });
    expect(inOwn.status).toBe(200);
    expect(inOwn.body.org).toEqual({ id: dana.org.id, name: 'Dana Org', role: 'admin' });
    expect(await titles(inOwn.body.token)).toEqual(['Dana notes']);
    expect((await login()).body.org.id).toBe(dana.org.id);

    const notMine = await login({ orgId: outsider.org.id });
    expect(notMine.status).toBe(403);
    expect(notMine.body.code).toBe('org.not_member');
    // A wrong password says nothing about orgs, whatever orgId names.
    const wrong = await login({ orgId: outsider.org.id, password: 'wrong password' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe('auth.bad_credentials');
    const bad = await login({ orgId: '' });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('request.invalid');
    expect(bad.body.detail).toMatch(/orgId/);
    // Refusals changed nothing: the last org used is still Dana Org.
    expect((await login()).body.org.id).toBe(dana.org.id);
  });

  it('refuses a switch to an org the user is not in (403), a bad body (400) and no token (401), and changes nothing', async () => {
    const before = (await login()).body.org.id;
    for (const orgId of [outsider.org.id, 'o-no-such-org']) {
      const r = await switchOrg(dana.token, { orgId });
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('org.not_member');
      expect(r.body.detail).toContain(orgId);
      expect(r.body).not.toHaveProperty('token');
    }
    for (const body of [{}, { orgId: 42 }, { orgId: '' }]) {
      const r = await switchOrg(dana.token, body);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('request.invalid');
      expect(r.body.detail).toMatch(/orgId/);
    }
    // Not a JSON object at all: refused by the body parser before the handler, still a 400.
    expect((await switchOrg(dana.token, 'Dana Org')).status).toBe(400);
    const anonymous = await switchOrg(undefined, { orgId: dana.org.id });
    expect(anonymous.status).toBe(401);
    // The outsider cannot use Dana's org id to get in either.
    const foreign = await switchOrg(outsider.token, { orgId: dana.org.id });
    expect(foreign.status).toBe(403);
    expect(foreign.body.code).toBe('org.not_member');
    expect((await login()).body.org.id).toBe(before);
  });

  it('sign-up (with or without an invite) remembers the org; memberships from before the migration fall back to the oldest org', async () => {
    const inv = await api<{ invite: string }>(gw.base, 'POST', '/api/org/invites', { token: ann.token });
    const email = uniqueEmail('erin');
    const erin = await api<AuthResponse>(gw.base, 'POST', '/api/auth/signup', {
      body: { email, name: 'erin', password: PASSWORD, invite: inv.body.invite },
    });
    expect(erin.status).toBe(201);
    const used = await pg.query(
      'SELECT org_id, last_used_at FROM gateway.org_members WHERE user_id = ANY($1) ORDER BY org_id',
      [[erin.body.user.id, outsider.user.id]],
    );
    expect(used.rows).toHaveLength(2);
    for (const row of used.rows as { last_used_at: Date | null }[])
      expect(row.last_used_at).toBeInstanceOf(Date);

    // Rows written before 0004 have no last use: sign-in picks the oldest org, as it always did.
    await pg.query('UPDATE gateway.org_members SET last_used_at = NULL WHERE user_id = $1', [dana.user.id]);
    await switchOrg(dana.token, { orgId: ann.org.id }).then((r) => expect(r.status).toBe(200));
    expect((await login()).body.org.id).toBe(ann.org.id);
    await pg.query('UPDATE gateway.org_members SET last_used_at = NULL WHERE user_id = $1', [dana.user.id]);
    expect((await login()).body.org.id).toBe(dana.org.id);
  });
});
