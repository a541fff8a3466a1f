import type { INestApplication } from '@nestjs/common';
import {
  AgentRunFinished,
  AgentRunStarted,
  AgentStep,
  createEvent,
  ExecuteCompleted,
  ExecuteRequested,
  ExecuteStarted,
  KernelRequested,
  KernelStateChanged,
  SandboxExited,
  SandboxStarted,
  type EventEnvelope,
} from '@quire/contracts';
import { bootstrapService, freePort } from '@quire/service-kit';
import type { Kafka } from 'kafkajs';
import type { AgentRunCharges, AgentRunSummary } from '../src/api/agent-run-charges';
import type { QuotaState } from '../src/api/billing.controller';
import type { BillingStatus } from '../src/runtime/billing-runtime';
import { RuntimeHost } from '../src/runtime/runtime-host';
import {
  createTopics,
  deleteTopics,
  endOffsets,
  EventSender,
  kafkaFor,
  namespace,
  waitUntil,
  type Namespace,
} from './support/harness';

jest.setTimeout(120_000);

/**
 * An agent run's charges, from real agent.v1 / exec.v1 / kernel events over
 * real Kafka into real PostgreSQL: the run is charged exactly the tokens and
 * cost of its AgentRunFinished (ledger rows keyed by the run, charge_to
 * agent-run), and the user the agent works for sees no change in their
 * compute quota — neither from the run's tokens nor from the cell the agent
 * ran in the kernel (that time stays the kernel's allocation).
 */
describe('billing: an agent run is charged to its own budget, never to the compute quota', () => {
  let ns: Namespace;
  let kafka: Kafka;
  let app: INestApplication;
  let base: string;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    ns = namespace('agentrun');
    kafka = kafkaFor(`billing-it-${ns.runId}`);
    await createTopics(kafka, ns);
    const port = await freePort();
    Object.assign(process.env, ns.env, {
      QUIRE_BILLING_PORT: String(port),
      QUIRE_BILLING_ROLE: 'all',
      QUIRE_BILLING_LATENESS_MS: '1000',
      QUIRE_BILLING_KAFKA_SESSION_TIMEOUT_MS: '6000',
      QUIRE_BILLING_KAFKA_HEARTBEAT_MS: '500',
      QUIRE_LOG_LEVEL: 'warn',
    });
    app = await bootstrapService({
      service: 'billing-it',
      loadModule: async () => (await import('../src/app.module')).AppModule,
      port,
      host: '127.0.0.1',
      logLevel: 'warn',
    });
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    const pool = app?.get(RuntimeHost).runtime.pool;
    if (pool && !process.env.QUIRE_BILLING_KEEP_TEST_SCHEMAS)
      await pool.query(`DROP SCHEMA IF EXISTS ${ns.schema} CASCADE`).catch(() => undefined);
    await app?.close();
    process.env = savedEnv;
    await deleteTopics(kafka, ns);
  });

  async function call<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> {
    const res = await fetch(`${base}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', ...(init?.headers ?? {}) },
    });
    return { status: res.status, body: JSON.parse(await res.text()) as T };
  }
  async function api<T>(path: string, init?: RequestInit): Promise<T> {
    const r = await call<T>(path, init);
    if (r.status >= 300) throw new Error(`${path} → ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }
  async function deliver(events: EventEnvelope[]): Promise<void> {
    const sender = await EventSender.open(kafka, ns.prefix);
    await sender.send(events);
    await sender.close();
    const topics = ['kernel.lifecycle.v1', 'host.events.v1', 'exec.v1', 'agent.v1'].map(
      (t) => `${ns.prefix}${t}`,
    );
    const end = await endOffsets(kafka, topics);
    await waitUntil(
      'billing to journal and meter every event sent',
      () => api<BillingStatus>('/api/billing/status'),
      (s) => {
        const got = new Map(s.offsets.map((o) => [`${o.topic}:${o.partition}`, o.nextOffset]));
        return s.caughtUp && [...end].every(([k, v]) => BigInt(got.get(k) ?? '0') >= BigInt(v));
      },
      60_000,
    );
  }

  it("charges AgentRunFinished's tokens and cost to the run and leaves the user's compute quota as it was", async () => {
    const org = `${ns.runId}-org`;
    const kernelId = `${ns.runId}-k`;
    const notebookId = `${ns.runId}-nb`;
    const runId = `${ns.runId}-run`;
    const t0 = Date.UTC(2026, 11, 2, 10, 0, 0);
    const at = (ms: number) => new Date(t0 + ms);
    const common = (subject: string) => ({ subject, tenant: org, source: 'it/agent-run-charges' });

    // Bob's kernel: RUNNING for 60 s on one core. Alice runs one cell herself (2.5 s); an agent working
    // for Alice runs another (4 s).
    const exec = (executionId: string, origin: 'human' | 'agent', from: number, ms: number) => [
      createEvent(ExecuteRequested, {
        ...common(kernelId),
        time: at(from - 10),
        data: {
          executionId,
          kernelId,
          notebookId,
          cellId: `${executionId}-cell`,
          userId: 'alice',
          origin,
          codeSha256: 'a'.repeat(64),
          codeBytes: 10,
        },
      }),
      createEvent(ExecuteStarted, {
        ...common(kernelId),
        time: at(from),
        data: { executionId, kernelId, cellId: `${executionId}-cell`, userId: 'alice', waitedMs: 0 },
      }),
      createEvent(ExecuteCompleted, {
        ...common(kernelId),
        time: at(from + ms),
        data: { executionId, kernelId, userId: 'alice', status: 'ok', ms, executionCount: 1 },
      }),
    ];
    const kernelEvents = [
      createEvent(KernelRequested, {
        ...common(kernelId),
        time: at(-2000),
        data: { kernelId, notebookId, userId: 'bob', tier: 'team', gpuProfile: null },
      }),
      createEvent(SandboxStarted, {
        ...common(kernelId),
        tenant: 'system',
        time: at(-1000),
        data: {
          hostId: 'h-1',
          sandboxId: `${kernelId}-sb`,
          kernelId,
          runtime: 'gvisor',
          fromWarmPool: false,
          bootMs: 900,
          limits: { memoryBytes: 2 ** 30, cpuQuota: 1, pids: 1024 },
        },
      }),
      createEvent(KernelStateChanged, {
        ...common(kernelId),
        time: at(0),
        data: {
          kernelId,
          notebookId,
          from: 'PROVISION',
          to: 'RUNNING',
          reason: 'ready',
          hostId: 'h-1',
          tier: 'team',
        },
      }),
      ...exec(`${ns.runId}-x-human`, 'human', 5_000, 2_500),
      ...exec(`${ns.runId}-x-agent`, 'agent', 20_000, 4_000),
      createEvent(KernelStateChanged, {
        ...common(kernelId),
        time: at(60_000),
        data: {
          kernelId,
          notebookId,
          from: 'RUNNING',
          to: 'HIBERNATED',
          reason: 'idle',
          hostId: null,
          tier: 'team',
        },
      }),
    ];

    await api('/api/billing/orgs/' + org + '/quotas', {
      method: 'PUT',
      body: JSON.stringify({ quota: 'compute', userId: 'alice', monthlyLimit: '1000' }),
    });
    await api('/api/billing/orgs/' + org + '/quotas', {
      method: 'PUT',
      body: JSON.stringify({ quota: 'compute', monthlyLimit: '1000' }),
    });
    await deliver(kernelEvents);
    const quotaPath = `/api/billing/orgs/${org}/quota?month=2026-12&userId=alice`;
    const computeOf = (q: QuotaState, userId: string | null) =>
      q.quotas.find((x) => x.quota === 'compute' && x.userId === userId)!.used;
    const before = await api<QuotaState>(quotaPath);
    // Alice's compute is her own cell only; the agent's cell is the kernel's (Bob's) allocation time.
    expect(computeOf(before, 'alice')).toBe('2.500000000');
    expect(computeOf(before, null)).toBe('60.000000000');

    // The run: three steps, then a last LLM call that finished it (no step of its own).
    const steps = [
      { prompt: 1200, completion: 80, amount: '0.003840' },
      { prompt: 1900, completion: 140, amount: '0.006120' },
      { prompt: 2600, completion: 60, amount: '0.008100' },
    ];
    const finishedTokens = { prompt: 9100, completion: 310 };
    const finishedCost = '0.027950';
    const agentEvents: EventEnvelope[] = [
      createEvent(AgentRunStarted, {
        ...common(runId),
        time: at(15_000),
        data: {
          runId,
          notebookId,
          kernelId,
          userId: 'alice',
          budget: { maxSteps: 10, maxTokens: 50_000, maxCost: '1.00' },
          mode: 'auto',
          provider: { kind: 'openai', model: 'gpt-test' },
        },
      }),
      ...steps.map((s, i) =>
        createEvent(AgentStep, {
          ...common(runId),
          time: at(16_000 + i * 5_000),
          data: {
            runId,
            step: i + 1,
            tokens: { prompt: s.prompt, completion: s.completion },
            execMs: i === 1 ? 4_000 : 0,
            cost: { amount: s.amount, currency: 'USD' },
            tool: 'run_cell',
          },
        }),
      ),
      createEvent(AgentRunFinished, {
        ...common(runId),
        time: at(40_000),
        data: {
          runId,
          status: 'succeeded',
          reason: 'finished',
          steps: 3,
          cost: { amount: finishedCost, currency: 'USD' },
          tokens: finishedTokens,
        },
      }),
    ];
    // Step 2 ran as a dry run in a forked kernel (1 core, 1 GiB) for 10 s: billed to the run.
    const forkId = `fork.${runId}.step-2`;
    const forkSandbox = { hostId: 'h-1', sandboxId: `${forkId}-sb`, kernelId: forkId };
    agentEvents.push(
      createEvent(SandboxStarted, {
        ...common(forkId),
        time: at(21_000),
        data: {
          ...forkSandbox,
          runtime: 'gvisor',
          fromWarmPool: false,
          bootMs: 1500,
          limits: { memoryBytes: 2 ** 30, cpuQuota: 1, pids: 1024 },
        },
      }),
      createEvent(SandboxExited, {
        ...common(forkId),
        time: at(31_000),
        data: {
          ...forkSandbox,
          reason: 'killed',
          exitCode: null,
          signal: 'SIGKILL',
          message: 'fork discarded',
        },
      }),
    );
    await deliver(agentEvents);

    const charges = await api<AgentRunCharges>(`/api/billing/orgs/${org}/agent-runs/${runId}/charges`);
    expect(charges).toMatchObject({
      orgId: org,
      runId,
      userId: 'alice',
      notebookId,
      kernelId,
      chargeTo: 'agent-run',
      tokens: String(finishedTokens.prompt + finishedTokens.completion),
      steps: '3',
      cost: [{ amount: '0.027950000', currency: 'USD' }],
      // From 2026-12 the run pays its LLM cost (agent-cost at 1 per USD; tokens and steps are not priced
      // again) and its fork: 10 CPU-seconds × 0.0000125 + 10 GiB-seconds × 0.0000016 = 0.000141.
      total: { amount: '0.028091', currency: 'USD' },
    });
    expect(charges.lines.find((l) => l.resource === 'agent-cost')).toMatchObject({
      sku: 'agent-cost/USD',
      unit: 'currency-unit',
      unitPrice: '1',
      priced: true,
      amount: '0.027950',
    });

    // The ledger rows are keyed by the run and charged to it.
    const pool = app.get(RuntimeHost).runtime.pool;
    const { rows } = await pool.query<{ resource: string; charge_to: string; base: string }>(
      `SELECT resource, charge_to, sum(base_quantity)::text AS base FROM ${ns.schema}.ledger
        WHERE agent_run_id = $1 GROUP BY 1, 2 ORDER BY 1`,
      [runId],
    );
    expect(rows).toEqual([
      { resource: 'agent-cost', charge_to: 'agent-run', base: '27950000' },
      { resource: 'agent-steps', charge_to: 'agent-run', base: '3' },
      { resource: 'agent-tokens', charge_to: 'agent-run', base: '9410' },
      { resource: 'cpu', charge_to: 'agent-run', base: String(1000 * 10_000) },
      { resource: 'memory', charge_to: 'agent-run', base: String(2 ** 30 * 10_000) },
    ]);
    expect(charges.lines.find((l) => l.resource === 'cpu')).toMatchObject({
      sku: 'cpu/team',
      quantity: '10.000000000',
      unit: 'cpu-second',
    });

    // The month's list of runs.
    const list = await api<{ runs: AgentRunSummary[] }>(`/api/billing/orgs/${org}/agent-runs?month=2026-12`);
    expect(list.runs).toEqual([
      {
        runId,
        userId: 'alice',
        notebookId,
        tokens: '9410',
        steps: '3',
        cost: [{ amount: '0.027950000', currency: 'USD' }],
      },
    ]);

    // Nothing of it reached the compute quota: the same figures as before the run.
    const after = await api<QuotaState>(quotaPath);
    expect(computeOf(after, 'alice')).toBe(computeOf(before, 'alice'));
    expect(computeOf(after, null)).toBe(computeOf(before, null));
    expect(after.newKernelsAllowed).toBe(true);

    // An unknown run: a clear 404 with a stable code.
    const missing = await call<{ code: string }>(`/api/billing/orgs/${org}/agent-runs/nope/charges`);
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('billing.agent_run_not_found');
  });
});
