import { ALL_TOPICS, dlqTopicOf, type EventEnvelope, type TopicSpec } from '@quire/contracts';
import { createKafka, createProducer, encodeEvent, ensureTopics } from '@quire/contracts/kafka';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { Kafka, Producer } from 'kafkajs';
import {
  isRunning,
  platformVar,
  spawnServiceProcess,
  stopServiceProcess,
  type ServiceProcess,
} from '@quire/service-kit';
import { loadBillingConfig, type BillingConfig } from '../../src/config';
import { BillingRuntime, type BillingStatus } from '../../src/runtime/billing-runtime';

/** Integration-test plumbing: a private topic namespace, schema and consumer group per run, real everything. */
export const REPO = join(__dirname, '..', '..', '..', '..');

/** `quire billing <args>` through the real CLI entry, against the billing API at `url`. */
export function runBillingCli(args: string[], url: string, timeoutMs = 240_000) {
  return promisify(execFile)(
    process.execPath,
    ['-r', '@swc-node/register', join(REPO, 'deploy/local/src/cli.ts'), 'billing', ...args],
    {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, SWC_NODE_PROJECT: join(REPO, 'tsconfig.base.json'), QUIRE_BILLING_URL: url },
      timeout: timeoutMs,
    },
  );
}

export { platformVar };

export interface Namespace {
  runId: string;
  prefix: string;
  schema: string;
  groupId: string;
  env: Record<string, string>;
}

export function namespace(tag: string): Namespace {
  platformVar('QUIRE_KAFKA_BROKERS');
  platformVar('QUIRE_POSTGRES_URL');
  const runId = `${tag}${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  const ns = {
    runId,
    prefix: `it-${runId}.`,
    schema: `billing_it_${runId}`,
    groupId: `billing-it-${runId}`,
  };
  return {
    ...ns,
    env: {
      QUIRE_BILLING_SCHEMA: ns.schema,
      QUIRE_BILLING_TOPIC_PREFIX: ns.prefix,
      QUIRE_BILLING_GROUP_ID: ns.groupId,
      QUIRE_LOG_LEVEL: 'info',
    },
  };
}

export function configFor(ns: Namespace, extra: Record<string, string> = {}): BillingConfig {
  return loadBillingConfig({ ...process.env, ...ns.env, ...extra });
}

export function kafkaFor(clientId: string): Kafka {
  return createKafka({ brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','), clientId });
}

export async function createTopics(kafka: Kafka, ns: Namespace): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const specs: TopicSpec[] = ALL_TOPICS.filter((t) => t.owner !== 'doc-sync').map((t) => ({
      ...t,
      name: `${ns.prefix}${t.name}`,
    }));
    await ensureTopics(admin, specs);
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, ns: Namespace): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const names = (await admin.listTopics()).filter((t) => t.startsWith(ns.prefix));
    if (names.length) await admin.deleteTopics({ topics: names, timeout: 20_000 });
  } catch {
    // best effort
  } finally {
    await admin.disconnect();
  }
}

export class EventSender {
  private constructor(
    private readonly producer: Producer,
    private readonly prefix: string,
  ) {}

  static async open(kafka: Kafka, prefix: string): Promise<EventSender> {
    const producer = createProducer(kafka);
    await producer.connect();
    return new EventSender(producer, prefix);
  }

  topicOf(e: EventEnvelope): string {
    const spec = ALL_TOPICS.find((t) => e.type.startsWith(`quire.${domainOf(t.name)}.`));
    if (!spec) throw new Error(`no topic for ${e.type}`);
    return `${this.prefix}${spec.name}`;
  }

  /** Sends in order (per topic, one request per chunk). */
  async send(events: readonly EventEnvelope[]): Promise<void> {
    const byTopic = new Map<string, ReturnType<typeof encodeEvent>[]>();
    for (const e of events) {
      const t = this.topicOf(e);
      const list = byTopic.get(t) ?? [];
      list.push(encodeEvent(e));
      byTopic.set(t, list);
    }
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  }

  async sendRaw(
    topic: string,
    messages: { key: string; value: Buffer | null; headers: Record<string, string> }[],
  ) {
    await this.producer.send({ topic: `${this.prefix}${topic}`, acks: -1, messages });
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

function domainOf(topic: string): string {
  return (
    {
      'host.events.v1': 'host',
      'exec.v1': 'exec',
      'kernel.lifecycle.v1': 'kernel',
      'doc.v1': 'doc',
      'billing.usage.v1': 'billing',
      'agent.v1': 'agent',
      'gpu.v1': 'gpu',
    }[topic] ?? topic
  );
}

export { dlqTopicOf };

/** A billing process (worker role) as a child: it can be killed with SIGKILL like a real crash. */
export class WorkerProcess {
  private readonly proc: ServiceProcess;

  constructor(env: Record<string, string>, entry = 'services/billing/src/worker-main.ts') {
    // No HTTP to poll: tests wait for its log lines (every line kept, they count them).
    this.proc = spawnServiceProcess({
      name: 'billing-worker',
      entry,
      env,
      readyPath: null,
      keepLines: Infinity,
    });
  }

  get child() {
    return this.proc.child;
  }

  get lines(): readonly string[] {
    return this.proc.lines;
  }

  get alive(): boolean {
    return isRunning(this.proc);
  }

  logged(msg: string): number {
    return this.lines.filter((l) => l.includes(`"msg":"${msg}"`)).length;
  }

  async waitFor(msg: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const tail = () => `${this.lines.slice(-20).join('\n')}\n(log: ${this.proc.logFile})`;
    while (this.logged(msg) === 0) {
      if (!this.alive) throw new Error(`worker exited before "${msg}":\n${tail()}`);
      if (Date.now() > deadline) throw new Error(`worker did not log "${msg}" in time:\n${tail()}`);
      await sleep(50);
    }
  }

  async kill9(): Promise<void> {
    await stopServiceProcess(this.proc, 'SIGKILL', null);
  }

  async stop(): Promise<void> {
    await stopServiceProcess(this.proc, 'SIGTERM', null);
  }
}

/** Reads a ledger's state without consuming or metering. */
export function observer(cfg: BillingConfig): BillingRuntime {
  return new BillingRuntime(
    cfg,
    { consume: false, meter: false, publish: false, deadLetter: false },
    silentLog,
  );
}

export const silentLog = { info: () => {}, warn: () => {}, error: () => {} };

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last, bigintJson)}`);
    await sleep(everyMs);
    last = await probe();
  }
  return last;
}

export function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

export async function endOffsets(kafka: Kafka, topics: string[]): Promise<Map<string, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const out = new Map<string, string>();
    for (const t of topics)
      for (const p of await admin.fetchTopicOffsets(t)) out.set(`${t}:${p.partition}`, p.high);
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** True when the ledger has read every partition to `end` and metered and published everything. */
export function drained(st: BillingStatus, end: Map<string, string>): boolean {
  const got = new Map(st.offsets.map((o) => [`${o.topic}:${o.partition}`, o.nextOffset]));
  return st.caughtUp && [...end].every(([k, v]) => BigInt(got.get(k) ?? '0') >= BigInt(v));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
