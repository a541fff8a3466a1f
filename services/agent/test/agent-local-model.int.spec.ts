import { existsSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  AGENT_CALLER_HEADERS,
  AGENT_INTERNAL_ROUTES,
  TOPICS,
  uuidv7,
  type AgentRunDto,
  type AuthResponse,
  type EventEnvelope,
  type NotebookSummary,
} from '@quire/contracts';
import { createKafka, EventConsumer } from '@quire/contracts/kafka';
import {
  freePort,
  platformVar,
  startServiceProcess,
  stopServiceProcess,
  type ServiceProcess,
} from '@quire/service-kit';
import {
  api,
  createNotebook,
  signup,
  startAgent,
  startDocSync,
  startGateway,
  startHostWorker,
  stopHostWorker,
  until,
  workflowBundleFile,
} from './support/agent-platform';

jest.setTimeout(300_000);

/**
 * The agent loop against the embedded local model with real inference
 * (services/local-llm: node-llama-cpp + SmolLM2-135M on the CPU, no key, no
 * network): requests, grammar-constrained tool calls parsed into tool_calls,
 * token counting, budgets and stop. The answers need not be clever.
 *
 * Between the agent and the model sits a pass-through HTTP recorder, so the
 * test sees every request the agent made and the usage the server reported.
 */
const REPO_ROOT = resolve(__dirname, '../../..');
const CACHE = resolve(REPO_ROOT, process.env.QUIRE_CACHE_DIR ?? '.quire/cache');
const INSTALL_DIR = join(CACHE, 'local-llm');
const MODEL = join(INSTALL_DIR, 'model', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const RUNTIME = join(INSTALL_DIR, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');

interface Exchange {
  body: { max_tokens?: number; stream?: boolean; tools?: unknown[]; messages: unknown[] };
  status?: number;
  usage?: { prompt_tokens: number; completion_tokens: number };
  toolCalls: string[];
  content: string;
  done: boolean;
}

/** Forwards to the local model and records each request and the usage/tool calls of its response (JSON or SSE). */
class RecordingProxy {
  readonly exchanges: Exchange[] = [];
  onRequest?: (e: Exchange) => void;
  private constructor(
    private readonly server: Server,
    readonly origin: string,
  ) {}

  static async start(target: string): Promise<RecordingProxy> {
    const t = new URL(target);
    const box: { self?: RecordingProxy } = {};
    const server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(parts);
        const ex: Exchange = {
          body: JSON.parse(raw.toString('utf8') || '{}'),
          toolCalls: [],
          content: '',
          done: false,
        };
        if (req.url?.endsWith('/chat/completions')) {
          box.self!.exchanges.push(ex);
          box.self!.onRequest?.(ex);
        }
        const up = httpRequest(
          { host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers },
          (upRes) => {
            ex.status = upRes.statusCode;
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            const got: Buffer[] = [];
            upRes.on('data', (c: Buffer) => {
              got.push(c);
              res.write(c);
            });
            upRes.on('end', () => {
              res.end();
              record(ex, Buffer.concat(got).toString('utf8'));
            });
          },
        );
        up.on('error', () => res.destroy());
        res.on('close', () => {
          if (!res.writableFinished) up.destroy();
        });
        up.end(raw);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    box.self = new RecordingProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return box.self;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

function record(ex: Exchange, text: string): void {
  type Choice = {
    message?: { content?: string | null; tool_calls?: { function: { name: string } }[] };
    delta?: { content?: string; tool_calls?: { function?: { name?: string } }[] };
  };
  type Body = { usage?: Exchange['usage']; choices?: Choice[] };
  const bodies: Body[] = text.trimStart().startsWith('data:')
    ? text
        .split('\n\n')
        .map((b) => b.replace(/^data: /, '').trim())
        .filter((d) => d && d !== '[DONE]')
        .map((d) => JSON.parse(d) as Body)
    : [JSON.parse(text) as Body];
  for (const b of bodies) {
    if (b.usage) ex.usage = b.usage;
    for (const c of b.choices ?? []) {
      const m = c.message ?? c.delta;
      ex.content += m?.content ?? '';
      for (const t of m?.tool_calls ?? []) if (t.function?.name) ex.toolCalls.push(t.function.name);
    }
  }
  ex.done = true;
}

describe('the agent loop on the embedded local model', () => {
  const volumes = mkdtempSync(join(tmpdir(), 'quire-agent-local-volumes-'));
  const schema = `agent_lm_${uuidv7().replace(/-/g, '').slice(-12)}`;
  const internalToken = platformVar('QUIRE_INTERNAL_TOKEN');
  let localLlm: ServiceProcess;
  let proxy: RecordingProxy;
  let docSync: ServiceProcess;
  let host: Awaited<ReturnType<typeof startHostWorker>>;
  let gateway: ServiceProcess;
  let agent: ServiceProcess;
  let alice: AuthResponse;
  let consumer: EventConsumer;
  const events: EventEnvelope[] = [];

  const caller = (nb: NotebookSummary) => ({
    authorization: `Bearer ${internalToken}`,
    [AGENT_CALLER_HEADERS.userId]: alice.user.id,
    [AGENT_CALLER_HEADERS.userName]: encodeURIComponent(alice.user.name),
    [AGENT_CALLER_HEADERS.orgId]: alice.org.id,
    [AGENT_CALLER_HEADERS.role]: 'owner',
    [AGENT_CALLER_HEADERS.kernelId]: nb.kernelId,
    [AGENT_CALLER_HEADERS.notebookId]: nb.id,
  });
  const startRun = async (nb: NotebookSummary, body: Record<string, unknown>) => {
    const r = await api<AgentRunDto>(agent.url, 'POST', AGENT_INTERNAL_ROUTES.runs, {
      headers: caller(nb),
      body: { notebookId: nb.id, mode: 'auto', ...body },
    });
    expect(r.status).toBe(201);
    return r.body;
  };
  const finished = (nb: NotebookSummary, runId: string) =>
    until(
      `run ${runId} to finish`,
      async () => {
        const r = await api<AgentRunDto>(agent.url, 'GET', AGENT_INTERNAL_ROUTES.run(runId), {
          headers: caller(nb),
        });
        return r.body.finishedAt ? r.body : undefined;
      },
      180_000,
    );
  const ofRun = (runId: string, type: string) => events.filter((e) => e.subject === runId && e.type === type);

  beforeAll(async () => {
    if (!existsSync(RUNTIME) || !existsSync(MODEL)) {
      throw new Error(
        `the embedded local model is not installed in ${INSTALL_DIR}: run \`npm run quire -- install\` (or \`npm start\`), which installs node-llama-cpp and ${MODEL}`,
      );
    }
    const port = await freePort();
    const started = Date.now();
    localLlm = await startServiceProcess({
      name: 'agent-lm-local-llm',
      entry: 'services/local-llm/src/main.ts',
      port,
      env: {
        QUIRE_LOCAL_LLM_PORT: String(port),
        QUIRE_LOCAL_LLM_DIR: INSTALL_DIR,
        QUIRE_LOCAL_LLM_CONTEXT: '4096',
        QUIRE_LOCAL_LLM_THREADS: '2',
      },
      readyPath: '/healthz',
      readyTimeoutMs: 120_000,
    });
    console.log(`local model server ready in ${Date.now() - started} ms`);
    proxy = await RecordingProxy.start(localLlm.url);
    const bundle = workflowBundleFile();
    docSync = await startDocSync();
    host = await startHostWorker(volumes);
    gateway = await startGateway(docSync.url, host.url);
    agent = await startAgent({
      QUIRE_GATEWAY_URL: gateway.url,
      QUIRE_DOC_SYNC_URL: docSync.url,
      QUIRE_AGENT_SCHEMA: schema,
      QUIRE_AGENT_TASK_QUEUE: `quire-agent-lm-${uuidv7()}`,
      QUIRE_AGENT_LLM_KIND: 'local',
      QUIRE_AGENT_LLM_BASE_URL: `${proxy.origin}/v1`,
      QUIRE_AGENT_LLM_MODEL: 'SmolLM2-135M-Instruct',
      QUIRE_AGENT_LLM_STREAM: 'true',
      QUIRE_AGENT_WORKFLOW_BUNDLE: await bundle,
      QUIRE_INSTANCE_ID: `agent-lm-${process.pid}`,
    });
    alice = await signup(gateway.url, 'alice');
    consumer = new EventConsumer({
      kafka: createKafka({ brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','), clientId: 'agent-lm' }),
      groupId: `agent-lm-${uuidv7()}`,
      topics: [TOPICS.agent.name],
      fromBeginning: true,
      handler: async (e) => {
        if (e.tenant === alice.org.id) events.push(e);
      },
    });
    await consumer.start();
  });

  afterAll(async () => {
    await consumer?.stop();
    await stopServiceProcess(agent, 'SIGTERM', 15_000);
    await stopServiceProcess(gateway, 'SIGTERM', 15_000);
    await stopServiceProcess(docSync, 'SIGTERM', 10_000);
    await stopHostWorker(host);
    await proxy?.stop();
    await stopServiceProcess(localLlm, 'SIGTERM', 10_000);
  });

  it('real requests, parsed tool calls, tokens equal to the server’s usage; the step budget (or the model’s own finish) ends the run', async () => {
    const nb = await createNotebook(gateway.url, alice.token, 'Local model');
    const from = proxy.exchanges.length;
    const t0 = Date.now();
    const started = await startRun(nb, {
      goal: 'Insert a Python code cell that prints the number 42.',
      budget: { maxSteps: 2 },
    });
    expect(started.provider).toMatchObject({ kind: 'local', model: 'SmolLM2-135M-Instruct' });
    const run = await finished(nb, started.runId);
    const mine = proxy.exchanges.slice(from);
    console.log(
      `run ${run.finishReason} after ${run.usage.steps} steps in ${Date.now() - t0} ms:`,
      JSON.stringify(
        mine.map((e) => ({ usage: e.usage, toolCalls: e.toolCalls, content: e.content.slice(0, 80) })),
      ),
    );

    // Every step was one real request to the local server, streamed, with the agent's tools and a bounded max_tokens.
    expect(mine).toHaveLength(run.usage.steps);
    for (const e of mine) {
      expect(e).toMatchObject({ status: 200, done: true, body: { stream: true } });
      expect(e.body.tools?.length).toBeGreaterThan(0);
      expect(e.body.max_tokens).toBeLessThanOrEqual(1024);
      expect(e.usage!.prompt_tokens).toBeGreaterThan(100);
      expect(e.usage!.completion_tokens).toBeGreaterThan(0);
      // The grammar guarantees a reply that parses: a tool call or a text answer.
      expect(e.toolCalls.length > 0 || e.content.trim().length > 0).toBe(true);
    }

    // The step budget (2) or the model's own finish ended the run, with its reason.
    if (run.finishReason === 'max_steps') {
      expect(run).toMatchObject({ status: 'budget_exhausted', usage: { steps: 2 } });
    } else {
      expect(run).toMatchObject({ status: 'succeeded', finishReason: 'finished' });
      expect(mine.at(-1)!.toolCalls.includes('finish') || mine.at(-1)!.toolCalls.length === 0).toBe(true);
    }

    // agent.v1: each step's tokens are the server's usage for that request; the total is their sum.
    await until(
      'AgentRunFinished',
      () => ofRun(started.runId, 'quire.agent.AgentRunFinished').length === 1,
      30_000,
    );
    const steps = ofRun(started.runId, 'quire.agent.AgentStep').map(
      (e) => e.data as { step: number; tool: string | null; tokens: { prompt: number; completion: number } },
    );
    expect(steps.map((s) => s.step)).toEqual(mine.map((_, i) => i + 1));
    expect(steps.map((s) => s.tokens)).toEqual(
      mine.map((e) => ({ prompt: e.usage!.prompt_tokens, completion: e.usage!.completion_tokens })),
    );
    // A parsed tool call was executed by the loop as that tool.
    mine.forEach((e, i) => expect(steps[i]!.tool ?? null).toBe(e.toolCalls[0] ?? null));
    const prompt = mine.reduce((s, e) => s + e.usage!.prompt_tokens, 0);
    const completion = mine.reduce((s, e) => s + e.usage!.completion_tokens, 0);
    expect(ofRun(started.runId, 'quire.agent.AgentRunFinished')[0]!.data).toMatchObject({
      reason: run.finishReason,
      steps: mine.length,
      tokens: { prompt, completion },
    });
    expect(run.usage).toMatchObject({ promptTokens: prompt, completionTokens: completion });
  });

  it('the token budget ends the run after the step that spent it', async () => {
    const nb = await createNotebook(gateway.url, alice.token, 'Token budget');
    const from = proxy.exchanges.length;
    const started = await startRun(nb, { goal: 'Print hello in a code cell.', budget: { maxTokens: 100 } });
    const run = await finished(nb, started.runId);
    const mine = proxy.exchanges.slice(from);
    console.log(`token budget: ${run.finishReason}, usage ${JSON.stringify(mine.map((e) => e.usage))}`);
    expect(mine).toHaveLength(1);
    // The whole budget (100 tokens) was the per-call limit, and the prompt alone is larger.
    expect(mine[0]!.body.max_tokens).toBe(100);
    expect(mine[0]!.usage!.prompt_tokens).toBeGreaterThan(100);
    if (mine[0]!.toolCalls.includes('finish')) {
      expect(run.finishReason).toBe('finished');
    } else {
      expect(run).toMatchObject({ status: 'budget_exhausted', finishReason: 'max_tokens' });
    }
    expect(run.usage.promptTokens + run.usage.completionTokens).toBe(
      mine[0]!.usage!.prompt_tokens + mine[0]!.usage!.completion_tokens,
    );
  });

  it('stop during a generation ends the run and the model is asked nothing more', async () => {
    const nb = await createNotebook(gateway.url, alice.token, 'Stop');
    const from = proxy.exchanges.length;
    const asked = new Promise<void>((r) => (proxy.onRequest = () => r()));
    const started = await startRun(nb, { goal: 'Explore the data step by step.', budget: { maxSteps: 50 } });
    await asked;
    proxy.onRequest = undefined;
    const stop = await api<AgentRunDto>(
      agent.url,
      'POST',
      AGENT_INTERNAL_ROUTES.action(started.runId, 'stop'),
      {
        headers: caller(nb),
        body: {},
      },
    );
    expect(stop.status).toBe(200);
    const run = await finished(nb, started.runId);
    expect(run).toMatchObject({ status: 'stopped', finishReason: 'stopped_by_user' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(proxy.exchanges.slice(from)).toHaveLength(1);
  });
});
