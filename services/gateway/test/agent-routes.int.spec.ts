import type { ServerResponse } from 'node:http';
import {
  AGENT_CALLER_HEADERS,
  GATEWAY_ROUTES,
  uuidv7,
  type AgentRunDto,
  type AuthResponse,
  type NotebookSummary,
} from '@quire/contracts';
import type { Pool } from 'pg';
import { agentRun, FakeService, json, problem, type Received } from './support/fake-internal-services';
import {
  api,
  bootGateway,
  createNotebook,
  joinOrg,
  signup,
  startDocSync,
  testPool,
  type GatewayUnderTest,
  type ServiceProcess,
} from './support/harness';

jest.setTimeout(120_000);

const INTERNAL_TOKEN = `it-internal-${uuidv7()}`;

/**
 * The gateway's agent-run routes against a fake agent service (real HTTP on
 * 127.0.0.1:0) with the real gateway, doc-sync and PostgreSQL: the route
 * table's RBAC, body validation, what the agent service is told about the
 * caller, error mapping and SSE passthrough.
 */
describe('gateway agent-run routes', () => {
  let docSync: ServiceProcess;
  let gw: GatewayUnderTest;
  let pg: Pool;
  let owner: AuthResponse;
  let editor: AuthResponse;
  let runner: AuthResponse;
  let viewer: AuthResponse;
  let outsider: AuthResponse;
  let nb: NotebookSummary;
  let otherNb: NotebookSummary;
  const runs = new Map<string, AgentRunDto>();
  /** Open event streams per run: the test writes events into them. */
  const streams = new Map<string, ServerResponse[]>();
  const streamClosed: string[] = [];

  const agent = new FakeService(INTERNAL_TOKEN, (r, res) => {
    const url = new URL(r.url, 'http://x');
    const parts = url.pathname.split('/').filter(Boolean); // internal, agent-runs, :runId?, action?
    if (parts[0] !== 'internal' || parts[1] !== 'agent-runs') return problem(res, 404, 'not_found', r.url);
    if (parts.length === 2 && r.method === 'POST') {
      const body = r.body as { notebookId: string; goal: string; mode: 'review' | 'auto'; dryRun: boolean };
      const run = agentRun({
        runId: `ar-${uuidv7()}`,
        notebookId: body.notebookId,
        kernelId: String(r.headers[AGENT_CALLER_HEADERS.kernelId]),
        userId: String(r.headers[AGENT_CALLER_HEADERS.userId]),
        userName: decodeURIComponent(String(r.headers[AGENT_CALLER_HEADERS.userName])),
        goal: body.goal,
        mode: body.mode,
        dryRun: body.dryRun,
      });
      runs.set(run.runId, run);
      return json(res, 201, run);
    }
    if (parts.length === 2 && r.method === 'GET') {
      const nbId = url.searchParams.get('notebookId');
      return json(res, 200, { runs: [...runs.values()].filter((x) => x.notebookId === nbId).reverse() });
    }
    const run = runs.get(parts[2]!);
    if (!run) return problem(res, 404, 'agent.run_not_found', 'no such run');
    if (parts.length === 3) return json(res, 200, run);
    if (parts[3] === 'events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`event: run\ndata: ${JSON.stringify({ type: 'run', run })}\n\n`);
      const list = streams.get(run.runId) ?? [];
      list.push(res);
      streams.set(run.runId, list);
      res.on('close', () => streamClosed.push(run.runId));
      return;
    }
    if (parts[3] === 'stop') {
      if (run.status !== 'running')
        return problem(res, 409, 'agent.run_finished', 'this run has already ended');
      run.status = 'stopped';
      run.finishReason = 'stopped_by_user';
      return json(res, 200, run);
    }
    if (parts[3] === 'review' || parts[3] === 'undo') {
      if (parts[3] === 'undo') run.undone = true;
      return json(res, 200, run);
    }
    return problem(res, 404, 'not_found', r.url);
  });

  const requestsSince = (n: number): Received[] => agent.received.slice(n);

  beforeAll(async () => {
    await agent.start();
    docSync = await startDocSync();
    gw = await bootGateway({
      QUIRE_DOC_SYNC_URL: docSync.base,
      QUIRE_KERNEL_PROVIDER: 'direct',
      QUIRE_HOST_WORKER_URL: 'http://127.0.0.1:9',
      QUIRE_AGENT_URL: agent.base,
      QUIRE_INTERNAL_TOKEN: INTERNAL_TOKEN,
      QUIRE_GPU_SCHEDULER_URL: 'http://127.0.0.1:9',
    });
    pg = testPool('gw-agent-routes');
    owner = await signup(gw.base, 'agent-owner', `Agent Org ${uuidv7()}`);
    editor = await joinOrg(gw.base, owner.token, 'agent-editor');
    runner = await joinOrg(gw.base, owner.token, 'agent-runner');
    viewer = await joinOrg(gw.base, owner.token, 'agent-viewer');
    outsider = await signup(gw.base, 'agent-outsider', `Other ${uuidv7()}`);
    nb = await createNotebook(gw.base, owner.token, 'Agent target');
    otherNb = await createNotebook(gw.base, owner.token, 'Another notebook');
    for (const n of [nb, otherNb]) {
      const put = await api(gw.base, 'PUT', GATEWAY_ROUTES.shares(n.id), {
        token: owner.token,
        body: {
          shares: [
            { email: editor.user.email, role: 'editor' },
            { email: runner.user.email, role: 'runner' },
            { email: viewer.user.email, role: 'viewer' },
          ],
        },
      });
      expect(put.status).toBe(200);
    }
  });

  afterAll(async () => {
    for (const list of streams.values()) for (const s of list) s.end();
    await gw?.close();
    await docSync?.stop();
    await pg?.end();
    await agent.stop();
  });

  const start = (token: string, body: unknown, notebookId = nb.id) =>
    api<AgentRunDto & { code?: string; detail?: string }>(
      gw.base,
      'POST',
      GATEWAY_ROUTES.agentRuns(notebookId),
      {
        token,
        body,
      },
    );

  it('an editor starts a run: the agent service gets the caller, the notebook kernel and the internal token', async () => {
    const before = agent.received.length;
    const res = await start(editor.token, { goal: '  load sales.csv and find the anomalies ', mode: 'auto' });
    expect(res.status).toBe(201);
    const [call] = requestsSince(before);
    expect(call).toBeDefined();
    expect(call!.method).toBe('POST');
    expect(call!.url).toBe('/internal/agent-runs');
    expect(call!.headers.authorization).toBe(`Bearer ${INTERNAL_TOKEN}`);
    const { rows } = await pg.query<{ kernel_id: string }>(
      'SELECT kernel_id FROM gateway.notebooks WHERE id = $1',
      [nb.id],
    );
    expect(call!.headers[AGENT_CALLER_HEADERS.kernelId]).toBe(rows[0]!.kernel_id);
    expect(call!.headers[AGENT_CALLER_HEADERS.userId]).toBe(editor.user.id);
    expect(decodeURIComponent(String(call!.headers[AGENT_CALLER_HEADERS.userName]))).toBe(editor.user.name);
    expect(call!.headers[AGENT_CALLER_HEADERS.orgId]).toBe(owner.org.id);
    expect(call!.headers[AGENT_CALLER_HEADERS.role]).toBe('editor');
    expect(call!.headers[AGENT_CALLER_HEADERS.notebookId]).toBe(nb.id);
    // Validated and defaulted by the contract's schema before forwarding.
    expect(call!.body).toEqual({
      notebookId: nb.id,
      goal: 'load sales.csv and find the anomalies',
      mode: 'auto',
      dryRun: false,
    });
    expect(res.body).toMatchObject({ notebookId: nb.id, mode: 'auto', userId: editor.user.id });
  });

  describe('RBAC from the route table', () => {
    let runId: string;
    beforeAll(async () => {
      runId = (await start(owner.token, { goal: 'rbac run' })).body.runId;
    });

    const cases: { who: 'owner' | 'editor' | 'runner' | 'viewer' | 'outsider'; may: boolean }[] = [
      { who: 'owner', may: true },
      { who: 'editor', may: true },
      { who: 'runner', may: false },
      { who: 'viewer', may: false },
      { who: 'outsider', may: false },
    ];
    const token = (who: string) => ({ owner, editor, runner, viewer, outsider })[who]!.token;

    it.each(cases)('$who may start: $may', async ({ who, may }) => {
      const before = agent.received.length;
      const res = await start(token(who), { goal: `started by ${who}` });
      expect(res.status).toBe(may ? 201 : 403);
      // A refused caller never reaches the agent service.
      expect(requestsSince(before).length).toBe(may ? 1 : 0);
    });

    it.each(cases)('$who may list and read runs (everyone it is shared with)', async ({ who }) => {
      const shared = who !== 'outsider';
      const list = await api<{ runs: AgentRunDto[] }>(gw.base, 'GET', GATEWAY_ROUTES.agentRuns(nb.id), {
        token: token(who),
      });
      expect(list.status).toBe(shared ? 200 : 403);
      if (shared) expect(list.body.runs.map((r) => r.runId)).toContain(runId);
      const one = await api(gw.base, 'GET', GATEWAY_ROUTES.agentRun(nb.id, runId), { token: token(who) });
      expect(one.status).toBe(shared ? 200 : 403);
    });

    it.each(cases)('$who may review and undo: $may', async ({ who, may }) => {
      const review = await api(gw.base, 'POST', GATEWAY_ROUTES.agentRunAction(nb.id, runId, 'review'), {
        token: token(who),
        body: { decision: 'reject' },
      });
      expect(review.status).toBe(may ? 200 : 403);
      const undo = await api(gw.base, 'POST', GATEWAY_ROUTES.agentRunAction(nb.id, runId, 'undo'), {
        token: token(who),
        body: {},
      });
      expect(undo.status).toBe(may ? 200 : 403);
    });

    it('a viewer cannot stop a run; an editor can, and stopping twice passes on the agent service 409', async () => {
      const stop = (t: string) =>
        api<{ code?: string; status?: string }>(
          gw.base,
          'POST',
          GATEWAY_ROUTES.agentRunAction(nb.id, runId, 'stop'),
          {
            token: t,
          },
        );
      expect((await stop(viewer.token)).status).toBe(403);
      expect((await stop(runner.token)).status).toBe(403);
      const ok = await stop(editor.token);
      expect(ok.status).toBe(200);
      expect(ok.body.status).toBe('stopped');
      const again = await stop(editor.token);
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('agent.run_finished');
      expect(again.headers.get('content-type')).toMatch(/problem\+json/);
    });

    it('anonymous callers are 401', async () => {
      expect((await api(gw.base, 'GET', GATEWAY_ROUTES.agentRuns(nb.id))).status).toBe(401);
    });
  });

  describe('bad bodies are 400 with a clear message and never reach the agent service', () => {
    it.each([
      [{}, /goal/],
      [{ goal: '   ' }, /goal/],
      [{ goal: 'x', mode: 'yolo' }, /mode/],
      [{ goal: 'x', dryRun: 'yes' }, /dryRun/],
      [{ goal: 'x', budget: { maxSteps: 0 } }, /budget\.maxSteps/],
      [{ goal: 'x', budget: { maxCost: 'lots' } }, /budget\.maxCost/],
    ])('start %j', async (body, message) => {
      const before = agent.received.length;
      const res = await start(editor.token, body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('request.invalid');
      expect(res.body.detail).toMatch(message);
      expect(requestsSince(before)).toEqual([]);
    });

    it('review with an unknown decision', async () => {
      const runId = (await start(editor.token, { goal: 'review body' })).body.runId;
      const before = agent.received.length;
      const res = await api<{ code: string; detail: string }>(
        gw.base,
        'POST',
        GATEWAY_ROUTES.agentRunAction(nb.id, runId, 'review'),
        { token: editor.token, body: { decision: 'maybe' } },
      );
      expect(res.status).toBe(400);
      expect(res.body.detail).toMatch(/decision/);
      expect(requestsSince(before)).toEqual([]);
    });
  });

  it("a run of another notebook is 404 through this notebook's routes", async () => {
    const foreign = (await start(editor.token, { goal: 'elsewhere' }, otherNb.id)).body.runId;
    for (const path of [
      GATEWAY_ROUTES.agentRun(nb.id, foreign),
      GATEWAY_ROUTES.agentRunEvents(nb.id, foreign),
    ]) {
      const res = await api<{ code: string }>(gw.base, 'GET', path, { token: editor.token });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('agent.run_not_found');
    }
    const stop = await api<{ code: string }>(
      gw.base,
      'POST',
      GATEWAY_ROUTES.agentRunAction(nb.id, foreign, 'stop'),
      {
        token: editor.token,
      },
    );
    expect(stop.status).toBe(404);
    expect(runs.get(foreign)!.status).toBe('running'); // the stop was never forwarded
  });

  it('SSE events reach two watchers one by one as the agent service sends them, not buffered', async () => {
    const run = (await start(editor.token, { goal: 'stream me' })).body;
    const open = async (token: string) => {
      const res = await fetch(`${gw.base}${GATEWAY_ROUTES.agentRunEvents(nb.id, run.runId)}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      return new SseReader(res.body!.getReader());
    };
    const watcher = await open(viewer.token);
    const starter = await open(editor.token);
    expect((await watcher.next()).type).toBe('run');
    expect((await starter.next()).type).toBe('run');
    await waitFor(() => (streams.get(run.runId)?.length ?? 0) === 2);

    for (let step = 1; step <= 3; step++) {
      const event = { type: 'step', step: { step, summary: `step ${step}`, code: `x = ${step}` } };
      for (const s of streams.get(run.runId)!) s.write(`event: step\ndata: ${JSON.stringify(event)}\n\n`);
      // Each event arrives before the next one is even written upstream.
      expect(await watcher.next()).toEqual(event);
      expect(await starter.next()).toEqual(event);
    }
    for (const s of streams.get(run.runId)!) {
      s.write(`event: token\ndata: ${JSON.stringify({ type: 'token', step: 4, text: 'Hel' })}\n\n`);
    }
    expect(await watcher.next()).toEqual({ type: 'token', step: 4, text: 'Hel' });
    expect(await starter.next()).toEqual({ type: 'token', step: 4, text: 'Hel' });

    // The viewer closes its tab: its upstream request ends too.
    await watcher.cancel();
    await waitFor(() => streamClosed.filter((id) => id === run.runId).length === 1);

    // The run finishes: the upstream stream ends and so does the gateway's.
    for (const s of streams.get(run.runId)!) {
      if (s.writableEnded || s.destroyed) continue;
      s.write(`event: finished\ndata: ${JSON.stringify({ type: 'finished', run })}\n\n`);
      s.end();
    }
    expect((await starter.next()).type).toBe('finished');
    expect(await starter.done()).toBe(true);
  });

  it("the agent service refusing the gateway's token is a 503 for the operator, not a 403 for the user", async () => {
    agent.acceptToken = 'a-different-token-entirely';
    try {
      const res = await api<{ code: string; detail: string }>(
        gw.base,
        'GET',
        GATEWAY_ROUTES.agentRuns(nb.id),
        {
          token: viewer.token,
        },
      );
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('agent.unavailable');
      expect(res.body.detail).toMatch(/credentials/);
    } finally {
      agent.acceptToken = INTERNAL_TOKEN;
    }
  });

  it('agent service down: 503 agent.unavailable problem+json on every route', async () => {
    const runId = [...runs.keys()][0]!;
    await agent.stop();
    const calls: [string, string, unknown][] = [
      ['POST', GATEWAY_ROUTES.agentRuns(nb.id), { goal: 'while down' }],
      ['GET', GATEWAY_ROUTES.agentRuns(nb.id), undefined],
      ['GET', GATEWAY_ROUTES.agentRun(nb.id, runId), undefined],
      ['GET', GATEWAY_ROUTES.agentRunEvents(nb.id, runId), undefined],
      ['POST', GATEWAY_ROUTES.agentRunAction(nb.id, runId, 'stop'), {}],
    ];
    for (const [method, path, body] of calls) {
      const res = await api<{ code: string; detail: string }>(gw.base, method, path, {
        token: editor.token,
        ...(body === undefined ? {} : { body }),
      });
      expect({ path, status: res.status, code: res.body.code }).toEqual({
        path,
        status: 503,
        code: 'agent.unavailable',
      });
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      expect(res.body.detail).toMatch(/agent service is not reachable/);
    }
  });
});

/** Reads `event:`/`data:` blocks from an SSE body as they arrive. */
class SseReader {
  private buffer = '';
  private readonly decoder = new TextDecoder();
  private ended = false;

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async next(): Promise<{ type: string } & Record<string, unknown>> {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (data) return JSON.parse(data) as { type: string };
        continue;
      }
      const { done, value } = await this.reader.read();
      if (done) throw new Error(`stream ended; left: ${JSON.stringify(this.buffer)}`);
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  async done(): Promise<boolean> {
    if (this.ended) return true;
    const { done } = await this.reader.read();
    this.ended = done;
    return done;
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
