/**
 * Metering throughput and end-to-end billing lag, next to the ceiling: a plain
 * kafkajs consumer that only reads the same topics.
 *
 *   eval "$(npm run -s quire -- env)"
 *   node -r @swc-node/register load-tests/src/billing/metering-bench.ts
 *
 * Phase 1 (throughput): BENCH_EVENTS events are produced first (a backlog),
 * then read by the plain consumer (ceiling) and by the billing service
 * (services/billing, role all, a fresh schema and group) until the ledger is
 * caught up: journalled exactly once, metered, rated. Phase 2 (lag): with
 * both running, events are produced at BENCH_RATE/s for BENCH_SECONDS; the
 * plain consumer's lag is receive time − Kafka timestamp, billing's is the
 * commit of the metering round that billed the event − its Kafka timestamp.
 */
import {
  ALL_TOPICS,
  createEvent,
  ExecuteCompleted,
  ExecuteStarted,
  HostHeartbeat,
  KernelRequested,
  KernelStateChanged,
  SandboxStarted,
  type EventEnvelope,
  type TopicSpec,
} from '@quire/contracts';
import { createKafka, createProducer, encodeEvent, ensureTopics } from '@quire/contracts/kafka';
import { freePort, startServiceProcess, stopServiceProcess } from '@quire/service-kit';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';

const REPO = join(__dirname, '..', '..', '..');
const N = Number(process.env.BENCH_EVENTS ?? 50_000);
const RATE = Number(process.env.BENCH_RATE ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const SOURCES = ['kernel.lifecycle.v1', 'host.events.v1', 'gpu.v1', 'agent.v1', 'exec.v1'];
const DOMAIN: Record<string, string> = {
  kernel: 'kernel.lifecycle.v1',
  host: 'host.events.v1',
  exec: 'exec.v1',
  gpu: 'gpu.v1',
  agent: 'agent.v1',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i]!;
}

/** A kernel's life in events: request, sandbox, RUNNING with cells, IDLE, HIBERNATED. */
function kernelEvents(prefix: string, k: number, t0: number, spanMs: number): EventEnvelope[] {
  const kernelId = `${prefix}k${k}`;
  const notebookId = `${prefix}nb${k}`;
  const org = `${prefix}org${k % 7}`;
  const hostId = `${prefix}h${k % 8}`;
  const src = 'bench/1';
  const out: EventEnvelope[] = [];
  const at = (ms: number) => new Date(t0 + ms);
  const ch = (ms: number, from: 'PROVISION' | 'RUNNING' | 'IDLE', to: 'RUNNING' | 'IDLE' | 'HIBERNATED') =>
    createEvent(KernelStateChanged, {
      subject: kernelId,
      tenant: org,
      source: src,
      time: at(ms),
      data: {
        kernelId,
        notebookId,
        from,
        to,
        reason: 'bench',
        hostId: to === 'HIBERNATED' ? null : hostId,
        tier: 'team',
      },
    });
  out.push(
    createEvent(KernelRequested, {
      subject: kernelId,
      tenant: org,
      source: src,
      time: at(0),
      data: { kernelId, notebookId, userId: `u${k % 13}`, tier: 'team', gpuProfile: null },
    }),
    createEvent(SandboxStarted, {
      subject: hostId,
      tenant: org,
      source: src,
      time: at(1),
      data: {
        hostId,
        sandboxId: `${kernelId}-sb`,
        kernelId,
        runtime: 'gvisor',
        fromWarmPool: true,
        bootMs: 100,
        limits: { memoryBytes: 2 ** 31, cpuQuota: 2, pids: 1024 },
      },
    }),
    ch(2, 'PROVISION', 'RUNNING'),
  );
  const cells = 8;
  const step = Math.max(10, Math.floor(spanMs / (2 * cells + 4)));
  for (let c = 0; c < cells; c++) {
    const s = 3 + (2 * c + 1) * step;
    const executionId = `${kernelId}-x${c}`;
    const userId = `u${(k + c) % 13}`;
    out.push(
      createEvent(ExecuteStarted, {
        subject: kernelId,
        tenant: org,
        source: src,
        time: at(s),
        data: { executionId, kernelId, cellId: `c${c}`, userId, waitedMs: 0 },
      }),
      createEvent(ExecuteCompleted, {
        subject: kernelId,
        tenant: org,
        source: src,
        time: at(s + step),
        data: { executionId, kernelId, userId, status: 'ok', ms: step, executionCount: c + 1 },
      }),
    );
  }
  out.push(ch(spanMs - 20, 'RUNNING', 'IDLE'), ch(spanMs - 10, 'IDLE', 'HIBERNATED'));
  return out; // 21 events
}

function heartbeat(prefix: string, h: number, t: number, seq: number): EventEnvelope {
  const hostId = `${prefix}h${h}`;
  return createEvent(HostHeartbeat, {
    subject: hostId,
    tenant: 'system',
    source: 'bench/1',
    time: new Date(t),
    data: {
      hostId,
      seq,
      capacity: { cpuCores: 64, memoryBytes: 2 ** 38 },
      free: { cpuCores: 32, memoryBytes: 2 ** 37 },
      sandboxes: 10,
      warmPool: { ready: 2, target: 2 },
      labels: {},
    },
  });
}

function topicOf(prefix: string, e: EventEnvelope): string {
  return prefix + DOMAIN[e.type.split('.')[1]!]!;
}

async function produce(kafka: Kafka, prefix: string, events: EventEnvelope[]): Promise<void> {
  const p = createProducer(kafka);
  await p.connect();
  for (let i = 0; i < events.length; i += 2000) {
    const byTopic = new Map<string, ReturnType<typeof encodeEvent>[]>();
    for (const e of events.slice(i, i + 2000)) {
      const t = topicOf(prefix, e);
      byTopic.set(t, [...(byTopic.get(t) ?? []), encodeEvent(e)]);
    }
    await p.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  }
  await p.disconnect();
}

/** The ceiling: read every message of the topics, nothing else. */
async function plainConsumer(kafka: Kafka, prefix: string, group: string, onMessage: (tsMs: number) => void) {
  const c = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 });
  await c.connect();
  for (const t of SOURCES) await c.subscribe({ topic: prefix + t, fromBeginning: true });
  await c.run({
    autoCommit: true,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) onMessage(Number(m.timestamp));
    },
  });
  return c;
}

async function main(): Promise<void> {
  const brokers = (process.env.QUIRE_KAFKA_BROKERS ?? '').split(',').filter(Boolean);
  if (!brokers.length || !process.env.QUIRE_POSTGRES_URL)
    throw new Error('run with the platform env: eval "$(npm run -s quire -- env)"');
  const id = `${Date.now().toString(36)}`;
  const prefix = `bench-${id}.`;
  const schema = `billing_bench_${id}`;
  const kafka = createKafka({ brokers, clientId: `billing-bench-${id}` });
  const admin = kafka.admin();
  await admin.connect();
  const specs: TopicSpec[] = ALL_TOPICS.filter((t) => t.owner !== 'doc-sync').map((t) => ({
    ...t,
    name: prefix + t.name,
  }));
  await ensureTopics(admin, specs);

  // Phase 1: a backlog of N events (≈ 8 % heartbeats, like a platform with a few hosts).
  const t0 = Date.now() - 6 * 3600_000;
  const events: EventEnvelope[] = [];
  let k = 0;
  while (events.length < N * 0.92) events.push(...kernelEvents(`${id}-`, k++, t0 + k * 7, 30 * 60_000));
  for (let i = 0; events.length < N; i++) events.push(heartbeat(`${id}-`, i % 8, t0 + i * 625, i));
  events.sort((a, b) => a.time.localeCompare(b.time));
  await produce(kafka, prefix, events);
  const total = events.length;

  let plainSeen = 0;
  const plainStart = Date.now();
  let plainDone = 0;
  const lagPlain: number[] = [];
  let lagPhaseFrom = Infinity;
  const plain = await plainConsumer(kafka, prefix, `bench-plain-${id}`, (ts) => {
    plainSeen++;
    if (plainSeen === total) plainDone = Date.now();
    if (ts >= lagPhaseFrom) lagPlain.push(Date.now() - ts);
  });
  while (!plainDone) await sleep(20);
  const plainRate = total / ((plainDone - plainStart) / 1000);

  const port = await freePort();
  // Ready when its status endpoint answers: the throughput clock starts there.
  const billing = await startServiceProcess({
    name: 'bench-billing',
    entry: 'services/billing/src/main.ts',
    port,
    env: {
      QUIRE_BILLING_ROLE: 'all',
      QUIRE_BILLING_PORT: String(port),
      QUIRE_BILLING_SCHEMA: schema,
      QUIRE_BILLING_GROUP_ID: `bench-billing-${id}`,
      QUIRE_BILLING_TOPIC_PREFIX: prefix,
      QUIRE_BILLING_LAG_SAMPLES: 'true',
      QUIRE_BILLING_METER_INTERVAL_MS: '50',
      QUIRE_LOG_LEVEL: 'warn',
    },
    readyPath: '/api/billing/status',
    readyPollMs: 100,
    readyTimeoutMs: 300_000,
    sourceMaps: false, // as in production: no source-mapped stack traces slowing the measured service
    killWithParent: true,
  });
  console.error(`billing log: ${billing.logFile}`);
  const base = `http://127.0.0.1:${port}`;
  const status = async () => {
    try {
      return (await (await fetch(`${base}/api/billing/status`)).json()) as {
        accepted: number;
        caughtUp: boolean;
        dirtyKeys: number;
      };
    } catch {
      return undefined;
    }
  };
  const billingStart = Date.now();
  let ingested = 0;
  for (;;) {
    const s = await status();
    if (s && s.accepted >= total && !ingested) ingested = Date.now();
    if (s && s.accepted >= total && s.caughtUp) break;
    await sleep(100);
  }
  const billedAt = Date.now();
  const ingestRate = total / ((ingested - billingStart) / 1000);
  const meterRate = total / ((billedAt - billingStart) / 1000);

  // Phase 2: steady stream in real time.
  lagPhaseFrom = Date.now();
  const lagSince = new Date(lagPhaseFrom).toISOString();
  const p = createProducer(kafka);
  await p.connect();
  const per = Math.max(1, Math.round(RATE / 10));
  let sent = 0;
  let kk = 1_000_000;
  const pending: EventEnvelope[] = [];
  for (let tick = 0; tick < SECONDS * 10; tick++) {
    const start = Date.now();
    while (pending.length < per) {
      pending.push(...kernelEvents(`${id}-live-`, kk++, Date.now(), 2000));
      pending.push(heartbeat(`${id}-`, kk % 8, Date.now(), kk));
    }
    const batch = pending.splice(0, per);
    const byTopic = new Map<string, ReturnType<typeof encodeEvent>[]>();
    for (const e of batch)
      byTopic.set(topicOf(prefix, e), [...(byTopic.get(topicOf(prefix, e)) ?? []), encodeEvent(e)]);
    await p.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
    sent += batch.length;
    await sleep(Math.max(0, 100 - (Date.now() - start)));
  }
  await p.disconnect();
  for (;;) {
    const s = await status();
    if (s && s.accepted >= total + sent && s.dirtyKeys === 0) break;
    await sleep(100);
  }
  await sleep(500);
  const lag = (await (
    await fetch(`${base}/api/billing/lag?since=${encodeURIComponent(lagSince)}`)
  ).json()) as {
    events: number;
    p50Ms: number;
    p99Ms: number;
  };
  await plain.disconnect();
  await stopServiceProcess(billing);
  lagPlain.sort((a, b) => a - b);

  const result = {
    date: new Date().toISOString(),
    events: total,
    throughput: {
      plainKafkajsEventsPerS: Math.round(plainRate),
      billingIngestEventsPerS: Math.round(ingestRate),
      billingMeteredEventsPerS: Math.round(meterRate),
      ratioMeteredToCeiling: +(meterRate / plainRate).toFixed(3),
    },
    lag: {
      rate: RATE,
      seconds: SECONDS,
      sent,
      plainP50Ms: pct(lagPlain, 0.5),
      plainP99Ms: pct(lagPlain, 0.99),
      billingP50Ms: Math.round(lag.p50Ms),
      billingP99Ms: Math.round(lag.p99Ms),
      billingSampledEvents: lag.events,
    },
    schema,
    topicPrefix: prefix,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  mkdirSync(join(REPO, 'artifacts'), { recursive: true });
  writeFileSync(join(REPO, 'artifacts', `billing-bench-${id}.json`), JSON.stringify(result, null, 2));

  // Clean up the scratch topics (the schema stays for inspection; drop it with DROP SCHEMA … CASCADE).
  const names = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  await admin.deleteTopics({ topics: names }).catch(() => undefined);
  await admin.deleteGroups([`bench-plain-${id}`, `bench-billing-${id}`]).catch(() => undefined);
  await admin.disconnect();
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
