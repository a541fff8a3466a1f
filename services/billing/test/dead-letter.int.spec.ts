import {
  createEvent,
  dlqTopicOf,
  ExecuteQueued,
  HostHeartbeat,
  KernelRequested,
  KernelStateChanged,
  SandboxStarted,
  TOPICS,
  uuidv7,
  type EventEnvelope,
} from '@quire/contracts';
import { DLQ_HEADER, encodeEvent, headersToStrings } from '@quire/contracts/kafka';
import type { Kafka } from 'kafkajs';
import type { BillingRuntime } from '../src/runtime/billing-runtime';
import { SOURCE_TOPICS } from '../src/runtime/billing-runtime';
import {
  configFor,
  createTopics,
  deleteTopics,
  drained,
  endOffsets,
  EventSender,
  kafkaFor,
  namespace,
  observer,
  waitUntil,
  WorkerProcess,
  type Namespace,
} from './support/harness';

jest.setTimeout(90_000);

/** A malformed event goes to `<topic>.dlq` with its reason; metering goes on around it. */
describe('dead letters at the billing sink', () => {
  let ns: Namespace;
  let kafka: Kafka;
  let worker: WorkerProcess;
  let obs: BillingRuntime;

  beforeAll(async () => {
    ns = namespace('dl');
    kafka = kafkaFor(`billing-it-${ns.runId}`);
    await createTopics(kafka, ns);
    obs = observer(configFor(ns));
    worker = new WorkerProcess({
      ...ns.env,
      QUIRE_BILLING_KAFKA_SESSION_TIMEOUT_MS: '6000',
      QUIRE_BILLING_KAFKA_HEARTBEAT_MS: '500',
    });
    await worker.waitFor('group joined');
  });

  afterAll(async () => {
    await worker?.stop();
    await obs?.pool.query(`DROP SCHEMA IF EXISTS ${ns.schema} CASCADE`).catch(() => undefined);
    await obs?.stop();
    await deleteTopics(kafka, ns);
  });

  it('dead-letters each kind of bad message with its reason and meters the good ones around them', async () => {
    const org = `${ns.runId}-org`;
    const kernelId = `${ns.runId}-k1`;
    const hostId = `${ns.runId}-h1`;
    const t0 = Date.UTC(2025, 4, 2, 10, 0, 0);
    const ev = <E extends EventEnvelope>(e: E) => e;
    const lifecycle = (time: number, from: string, to: string) =>
      ev(
        createEvent(KernelStateChanged, {
          subject: kernelId,
          tenant: org,
          source: 'workflows/it',
          time: new Date(time),
          data: {
            kernelId,
            notebookId: 'nb-1',
            from: from as 'ABSENT',
            to: to as 'RUNNING',
            reason: 'it',
            hostId,
            tier: 'team',
          },
        }),
      );
    const good: EventEnvelope[] = [
      createEvent(KernelRequested, {
        subject: kernelId,
        tenant: org,
        source: 'workflows/it',
        time: new Date(t0 - 1000),
        data: { kernelId, notebookId: 'nb-1', userId: 'ada', tier: 'team', gpuProfile: null },
      }),
      createEvent(SandboxStarted, {
        subject: hostId,
        tenant: org,
        source: 'host-worker/it',
        time: new Date(t0 - 500),
        data: {
          hostId,
          sandboxId: 'sb-1',
          kernelId,
          runtime: 'gvisor',
          fromWarmPool: true,
          bootMs: 120,
          limits: { memoryBytes: 2 * 1024 ** 3, cpuQuota: 1.5, pids: 1024 },
        },
      }),
      lifecycle(t0, 'PROVISION', 'RUNNING'),
      lifecycle(t0 + 12_345, 'RUNNING', 'IDLE'),
      lifecycle(t0 + 20_000, 'IDLE', 'HIBERNATED'),
    ];
    // Heartbeats every 5 s so the host is alive, and far enough past the end to move the watermark.
    for (let t = t0 - 5000; t <= t0 + 200_000; t += 5000) {
      good.push(
        createEvent(HostHeartbeat, {
          subject: hostId,
          tenant: 'system',
          source: 'host-worker/it',
          time: new Date(t),
          data: {
            hostId,
            seq: (t - t0) / 5000 + 1,
            capacity: { cpuCores: 8, memoryBytes: 32 * 1024 ** 3 },
            free: { cpuCores: 4, memoryBytes: 16 * 1024 ** 3 },
            sandboxes: 1,
            warmPool: { ready: 1, target: 1 },
            labels: {},
          },
        }),
      );
    }

    const topic = TOPICS.kernelLifecycle.name;
    const base = encodeEvent(lifecycle(t0 + 15_000, 'IDLE', 'RUNNING'));
    const notJson = { ...base, value: Buffer.from('{this is not json') };
    const badData = encodeEvent({ ...lifecycle(t0 + 15_000, 'IDLE', 'RUNNING'), id: uuidv7() });
    badData.value = Buffer.from(
      JSON.stringify({ ...(JSON.parse(badData.value.toString()) as object), to: 'FLYING' }),
    );
    const unknownType = encodeEvent({ ...lifecycle(t0 + 15_000, 'IDLE', 'RUNNING'), id: uuidv7() });
    unknownType.headers.ce_type = 'quire.kernel.KernelTeleported';
    const wrongTopic = encodeEvent(
      createEvent(ExecuteQueued, {
        subject: kernelId,
        tenant: org,
        source: 'gateway/it',
        data: { executionId: 'e', kernelId, userId: 'ada', position: 1 },
      }),
    );
    // Billing's own rule: an event stamped an hour ahead of its Kafka timestamp (a broken clock).
    const future = encodeEvent(lifecycle(Date.now() + 3_600_000, 'IDLE', 'RUNNING'));

    const sender = await EventSender.open(kafka, ns.prefix);
    await sender.send(good.slice(0, 3));
    await sender.sendRaw(topic, [notJson, badData, unknownType, wrongTopic, future]);
    await sender.send(good.slice(3));
    await sender.close();

    const end = await endOffsets(
      kafka,
      SOURCE_TOPICS.map((t) => ns.prefix + t),
    );
    const st = await waitUntil(
      'the ledger to drain',
      () => obs.status(),
      (s) => drained(s, end),
      60_000,
    );
    expect(st.rejected).toBe(5);
    expect(st.accepted).toBe(good.length);

    // The good events were metered exactly: 12.345 s RUNNING + 7.655 s IDLE = 20 s of 1.5 CPU and 2 GiB.
    const { rows } = await obs.pool.query<{ resource: string; base: string }>(
      `SELECT resource, sum(base_quantity)::text AS base FROM ${ns.schema}.ledger WHERE kernel_id = $1 GROUP BY 1 ORDER BY 1`,
      [kernelId],
    );
    expect(rows).toEqual([
      { resource: 'cpu', base: String(1500 * 20_000) },
      { resource: 'memory', base: String(2 * 1024 ** 3 * 20_000) },
    ]);

    // The DLQ has all five, each with its reason and where it came from.
    const reasons: Record<string, string> = {};
    const reader = kafka.consumer({ groupId: `${ns.groupId}-dlq-reader` });
    await reader.connect();
    await reader.subscribe({ topic: dlqTopicOf(`${ns.prefix}${topic}`), fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        const h = headersToStrings(message.headers);
        reasons[h[DLQ_HEADER.originalOffset]!] = `${h[DLQ_HEADER.consumerGroup]} :: ${h[DLQ_HEADER.reason]}`;
      },
    });
    await waitUntil(
      'five dead letters',
      async () => Object.keys(reasons).length,
      (n) => n >= 5,
      30_000,
    );
    await reader.disconnect();
    const all = Object.values(reasons);
    expect(all.every((r) => r.startsWith(`${ns.groupId} :: `))).toBe(true);
    expect(all.some((r) => /value is not JSON/.test(r))).toBe(true);
    expect(all.some((r) => /invalid data for quire\.kernel\.KernelStateChanged: to:/.test(r))).toBe(true);
    expect(all.some((r) => /unknown event type.*KernelTeleported/.test(r))).toBe(true);
    expect(all.some((r) => /wrong topic.*ExecuteQueued belongs on exec\.v1/.test(r))).toBe(true);
    expect(all.some((r) => /ahead of its Kafka timestamp/.test(r))).toBe(true);

    // And the sink remembers them, so a replay skips them the same way.
    const { rows: rej } = await obs.pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${ns.schema}.rejected_messages`,
    );
    expect(rej[0]!.n).toBe('5');
    expect(worker.alive).toBe(true);
  });
});
