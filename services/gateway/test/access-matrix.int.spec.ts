import { randomUUID } from 'node:crypto';
import {
  NOTEBOOK_ROLE_RANK,
  type AuthResponse,
  type NotebookRole,
  type NotebookSummary,
} from '@quire/contracts';
import { platformVar } from '@quire/service-kit';
import { SignJWT } from 'jose';
import type { Pool } from 'pg';
import WebSocket from 'ws';
import { ROUTE_RULES, WS_RULES, type AccessRule } from '../src/auth/access-rules';
import {
  api,
  bootApiGateway,
  createNotebook,
  type GatewayUnderTest,
  joinOrg,
  type ServiceProcess,
  signup,
  testPool,
} from './support/harness';

jest.setTimeout(180_000);

type Caller = NotebookRole | 'same-org-unshared' | 'other-org' | 'anonymous';
const CALLERS: Caller[] = [
  'owner',
  'editor',
  'runner',
  'viewer',
  'same-org-unshared',
  'other-org',
  'anonymous',
];

describe('gateway access: every route × every role, from the one route table', () => {
  let docSync: ServiceProcess;
  let gw: GatewayUnderTest;
  let pg: Pool;
  const users = {} as Record<Exclude<Caller, 'anonymous'>, AuthResponse>;
  let nb: NotebookSummary;
  let linkToken: string;

  beforeAll(async () => {
    // No host: kernel routes answer 503 to allowed callers, which is "not 401/403".
    ({ gw, docSync } = await bootApiGateway());
    pg = testPool('gw-test');
    users.owner = await signup(gw.base, 'owner', 'Matrix Org');
    for (const role of ['editor', 'runner', 'viewer', 'same-org-unshared'] as const)
      users[role] = await joinOrg(gw.base, users.owner.token, role);
    users['other-org'] = await signup(gw.base, 'outsider', 'Other Org');
    nb = await createNotebook(gw.base, users.owner.token, 'Matrix');
    const put = await api<{ link: { token: string } }>(gw.base, 'PUT', `/api/notebooks/${nb.id}/shares`, {
      token: users.owner.token,
      body: shareBody(),
    });
    expect(put.status).toBe(200);
    // Accepting a link changes who may do what: the accept route gets a notebook of its own.
    const linkNb = await createNotebook(gw.base, users.owner.token, 'Link target');
    const linked = await api<{ link: { token: string } }>(
      gw.base,
      'PUT',
      `/api/notebooks/${linkNb.id}/shares`,
      {
        token: users.owner.token,
        body: { link: 'view' },
      },
    );
    linkToken = linked.body.link.token;
  });

  afterAll(async () => {
    await gw?.close();
    await docSync?.stop();
    await pg?.end();
  });

  function shareBody() {
    return {
      shares: (['editor', 'runner', 'viewer'] as const).map((r) => ({ email: users[r].user.email, role: r })),
      link: 'view',
    };
  }

  /** A Jupyter API kernel row owned by the notebook owner (no real kernel needed to test access). */
  async function ownerKernel(): Promise<{ kernelId: string; sessionId: string }> {
    const kernelId = `jk-test-${randomUUID()}`;
    const sessionId = randomUUID();
    await pg.query('INSERT INTO gateway.jupyter_kernels (id, org_id, user_id) VALUES ($1, $2, $3)', [
      kernelId,
      users.owner.org.id,
      users.owner.user.id,
    ]);
    await pg.query(
      `INSERT INTO gateway.jupyter_sessions (id, kernel_id, org_id, user_id, path, name, type) VALUES ($1, $2, $3, $4, 'a.ipynb', 'a', 'notebook')`,
      [sessionId, kernelId, users.owner.org.id, users.owner.user.id],
    );
    return { kernelId, sessionId };
  }

  function expected(rule: AccessRule, caller: Caller): 'allowed' | 401 | 403 {
    if (rule.kind === 'public') return 'allowed';
    if (caller === 'anonymous') return 401;
    if (rule.kind === 'agent-run') return 401; // a user token is not an agent token
    if (rule.kind === 'user') return 'allowed';
    if (rule.kind === 'org-admin') return caller === 'owner' || caller === 'other-org' ? 'allowed' : 403;
    if (rule.kind === 'notebook') {
      if (caller === 'other-org' || caller === 'same-org-unshared') return 403;
      return NOTEBOOK_ROLE_RANK[caller] >= NOTEBOOK_ROLE_RANK[rule.min] ? 'allowed' : 403;
    }
    return caller === 'owner' ? 'allowed' : 403;
  }

  const cases = Object.entries(ROUTE_RULES).flatMap(([key, rule]) =>
    CALLERS.map((caller) => ({ key, rule, caller, want: expected(rule, caller) })),
  );

  it.each(cases)('$key as $caller → $want', async ({ key, rule, caller, want }) => {
    const [method, pattern] = key.split(' ') as [string, string];
    let id = nb.id;
    if (rule.kind === 'notebook' && want === 'allowed' && method === 'DELETE')
      id = (await createNotebook(gw.base, users.owner.token, 'to delete')).id; // a fresh one per destructive call
    if (rule.kind === 'jupyter-kernel' || rule.kind === 'jupyter-session') {
      const k = await ownerKernel();
      id = rule.kind === 'jupyter-kernel' ? k.kernelId : k.sessionId;
    }
    const path = pattern
      .replace(':id', encodeURIComponent(id))
      .replace(':versionId', 'no-such-version')
      .replace(':runId', 'no-such-run')
      .replace(':objectId', 'no-such-object')
      .replace(':token', linkToken);
    const body =
      key === 'PUT /api/notebooks/:id/shares'
        ? shareBody()
        : key === 'PATCH /api/notebooks/:id'
          ? { title: 'Matrix' }
          : method === 'GET' || method === 'DELETE'
            ? undefined
            : {};
    const token = caller === 'anonymous' ? undefined : users[caller].token;
    const res = await api<{ code?: string }>(gw.base, method, path, {
      ...(token ? { token } : {}),
      ...(body !== undefined ? { body } : {}),
    });
    if (want === 'allowed') {
      // Links are per org: another org's user accepting one is refused too.
      if (key === 'POST /api/links/:token/accept' && caller === 'other-org') expect(res.status).toBe(403);
      else {
        expect([401, 403]).not.toContain(res.status);
        // The dependencies this test leaves out are a kernel host, the agent service and the
        // gpu-scheduler: only their routes may answer 5xx.
        if (res.status >= 500) expect(res.body.code).toMatch(/^(kernel|agent|gpu)\./);
      }
    } else {
      expect(res.status).toBe(want);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    }
  });

  const wsCases = Object.entries(WS_RULES).flatMap(([name, { rule }]) =>
    CALLERS.map((caller) => ({ name, rule, caller, want: expected(rule, caller) })),
  );

  it.each(wsCases)('WebSocket $name as $caller → $want', async ({ name, rule, caller, want }) => {
    const id = rule.kind === 'notebook' ? nb.id : (await ownerKernel()).kernelId;
    const path =
      name === 'kernelChannel' ? `/api/notebooks/${id}/kernel-channel` : `/api/kernels/${id}/channels`;
    const token = caller === 'anonymous' ? '' : `?token=${users[caller].token}`;
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.port}${path}${token}`);
      ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('error', () => resolve(-1));
    });
    expect(status).toBe(want === 'allowed' ? 101 : want);
  });

  it('has a rule for every route the gateway serves, and no rule for a route it does not', () => {
    const router = (
      gw.app.getHttpAdapter().getInstance() as {
        router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
      }
    ).router;
    const served = router.stack
      .filter((l) => l.route)
      .flatMap((l) =>
        Object.keys(l.route!.methods)
          .filter((m) => m !== '_all')
          .map((m) => `${m.toUpperCase()} ${l.route!.path}`),
      );
    expect(served.length).toBeGreaterThan(30);
    expect(served.filter((r) => !ROUTE_RULES[r])).toEqual([]);
    expect(Object.keys(ROUTE_RULES).filter((r) => !served.includes(r))).toEqual([]);
  });

  describe('tokens', () => {
    const key = () => new TextEncoder().encode(platformVar('QUIRE_TOKEN_SIGNING_KEY'));
    const me = (token: string) => api<{ code: string }>(gw.base, 'GET', '/api/me', { token });

    it('accepts a valid user token', async () => {
      const r = await me(users.owner.token);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        user: { id: users.owner.user.id },
        org: { id: users.owner.org.id, role: 'admin' },
      });
    });

    it('refuses an expired token', async () => {
      const t = await new SignJWT({ org: users.owner.org.id, name: 'x' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(users.owner.user.id)
        .setAudience('quire:user')
        .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(key());
      const r = await me(t);
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('auth.token_expired');
    });

    it('refuses alg: none, a foreign key, a doc token, and garbage', async () => {
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const exp = Math.floor(Date.now() / 1000) + 600;
      const claims = { sub: users.owner.user.id, org: users.owner.org.id, name: 'x', aud: 'quire:user', exp };
      const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
      const foreign = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode('x'.repeat(48)));
      const docAud = await new SignJWT({ ...claims, aud: 'quire:doc' })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(key());
      for (const t of [none, foreign, docAud, 'not-a-token']) {
        const r = await me(t);
        expect(r.status).toBe(401);
        expect(r.body.code).toBe('auth.invalid_token');
      }
    });

    it('signs in with the right password only, and refuses a taken email', async () => {
      const ok = await api(gw.base, 'POST', '/api/auth/login', {
        body: { email: users.viewer.user.email, password: 'correct horse battery' },
      });
      expect(ok.status).toBe(200);
      const bad = await api<{ code: string }>(gw.base, 'POST', '/api/auth/login', {
        body: { email: users.viewer.user.email, password: 'wrong password' },
      });
      expect(bad.status).toBe(401);
      expect(bad.body.code).toBe('auth.bad_credentials');
      const dup = await api<{ code: string }>(gw.base, 'POST', '/api/auth/signup', {
        body: { email: users.viewer.user.email, name: 'v', password: 'another password' },
      });
      expect(dup.status).toBe(409);
      const invalid = await api<{ code: string; detail: string }>(gw.base, 'POST', '/api/auth/signup', {
        body: { email: 'nope', name: '', password: 'short' },
      });
      expect(invalid.status).toBe(400);
      expect(invalid.body.detail).toMatch(/email/);
      expect(invalid.body.detail).toMatch(/password/);
    });
  });
});
