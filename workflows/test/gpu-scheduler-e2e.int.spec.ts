import {
  ALL_TOPICS,
  createEvent,
  HostHeartbeat,
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  uuidv7,
  type EnsureRunningResult,
  type GpuRequestState,
  type LifecycleSnapshot,
} from '@quire/contracts';
import { createKafka, createProducer, encodeEvent, ensureTopics } from '@quire/contracts/kafka';
import {
  createPostgresPool,
  freePort,
  platformVar,
  startServiceProcess,
  stopServiceProcess,
  type ServiceProcess,
} from '@quire/service-kit';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { Kafka, Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { createLifecycleActivities } from '../src/activities/lifecycle-activities';
import { GpuSchedulerClient } from '../src/activities/gpu-scheduler-client';
import { ensureKernelRunning } from '../src/client/lifecycle-client';
import { FakeHostFleet } from '../src/testing/fake-host-fleet';
import type { LifecycleActivityDeps } from '../src/activities/lifecycle-activities';
import { lifecycleInput, stateOf, until, waitForState } from './lifecycle-harness';

/**
 * GPU notebooks end to end on real Kafka, Temporal and PostgreSQL: the
 * kernelLifecycle workflow asks the real gpu-scheduler (its own process) for
 * the last H100, which a host the test defines advertises in its heartbeats;
 * the second user's kernel waits at position 1 with an ETA; when the first
 * kernel hibernates after its idle time its GPU goes to the second; and the
 * real billing service, reading gpu.v1 as the scheduler wrote it, books
 * GPU-seconds for both that equal the allocation intervals to the
 * millisecond. Host operations are the in-memory fleet (no GPU here); every
 * topic carries this run's prefix so nothing else on the platform sees it.
 */
jest.setTimeout(240_000);

async function poll<T>(probe: () => Promise<T | false>, what: string, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => false as const);
    if (v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const run = uuidv7()
  .slice(-10)
  .replace(/[^a-z0-9]/g, '');
const prefix = `it-gpu${run}.`;
const taskQueue = `gpu-e2e-${run}`;
const orgA = `org-a-${run}`;
const orgB = `org-b-${run}`;

describe('GPU kernels: lifecycle → real gpu-scheduler → billing', () => {
  let kafka: Kafka;
  let producer: Producer;
  let pg: Pool;
  let scheduler: ServiceProcess;
  let billing: ServiceProcess;
  let connection: Connection;
  let client: Client;
  let workerConnection: NativeConnection;
  let worker: Worker;
  let workerRun: Promise<void>;
  let beats: NodeJS.Timeout | undefined;
  const fleet = new FakeHostFleet(['gpu-host-e2e'], { warmPool: 0 });
  const schedulerSchema = `gpu_e2e_${run}`;
  const billingSchema = `billing_gpu_e2e_${run}`;

  beforeAll(async () => {
    kafka = createKafka({
      brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','),
      clientId: `gpu-e2e-${run}`,
    });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(
      admin,
      ALL_TOPICS.map((t) => ({ ...t, name: `${prefix}${t.name}` })),
    );
    await admin.disconnect();
    producer = createProducer(kafka);
    await producer.connect();
    pg = createPostgresPool(
      { QUIRE_POSTGRES_URL: platformVar('QUIRE_POSTGRES_URL'), QUIRE_POSTGRES_POOL_SIZE: 2 },
      'gpu-e2e',
    );

    // The host: one H100, heartbeats every second on this run's host.events.v1.
    let seq = 0;
    const beat = () =>
      producer.send({
        topic: `${prefix}host.events.v1`,
        messages: [
          encodeEvent(
            createEvent(HostHeartbeat, {
              subject: 'gpu-host-e2e',
              tenant: 'platform',
              source: 'host-worker/gpu-e2e',
              data: {
                hostId: 'gpu-host-e2e',
                seq: seq++,
                capacity: { cpuCores: 16, memoryBytes: 64 * 1024 ** 3 },
                free: { cpuCores: 16, memoryBytes: 64 * 1024 ** 3 },
                sandboxes: 0,
                warmPool: { ready: 0, target: 0 },
                labels: {},
                apiUrl: 'http://gpu-host-e2e.invalid',
                gpus: [
                  {
                    uuid: `GPU-e2e-${run}`,
                    index: 0,
                    model: 'NVIDIA H100 80GB HBM3',
                    gpuType: 'h100-80gb',
                    memoryBytes: 80 * 1024 ** 3,
                    driverVersion: '550.90.07',
                    migMode: 'disabled',
                    migInstances: [],
                    sandbox: { wholeGpu: true, migSlices: false },
                    cudaCheckpoint: false,
                  },
                ],
              },
            }),
          ),
        ],
      });
    await beat();
    beats = setInterval(() => void beat().catch(() => undefined), 1000);

    const schedulerPort = await freePort();
    scheduler = await startServiceProcess({
      name: `gpu-scheduler-e2e-${run}`,
      entry: 'services/gpu-scheduler/src/main.ts',
      port: schedulerPort,
      env: {
        QUIRE_GPU_SCHEDULER_PORT: String(schedulerPort),
        QUIRE_GPU_SCHEDULER_SCHEMA: schedulerSchema,
        QUIRE_GPU_SCHEDULER_GROUP_ID: `gpu-e2e-${run}`,
        QUIRE_GPU_SCHEDULER_TOPIC_PREFIX: prefix,
        QUIRE_LOG_LEVEL: 'warn',
      },
    });
    const billingPort = await freePort();
    billing = await startServiceProcess({
      name: `billing-gpu-e2e-${run}`,
      entry: 'services/billing/src/main.ts',
      port: billingPort,
      env: {
        QUIRE_BILLING_PORT: String(billingPort),
        QUIRE_BILLING_SCHEMA: billingSchema,
        QUIRE_BILLING_GROUP_ID: `billing-gpu-e2e-${run}`,
        QUIRE_BILLING_TOPIC_PREFIX: prefix,
        QUIRE_BILLING_LATENESS_MS: '1000',
        QUIRE_LOG_LEVEL: 'warn',
      },
    });

    const real = createLifecycleActivities({
      events: {} as LifecycleActivityDeps['events'],
      snapshots: {} as LifecycleActivityDeps['snapshots'],
      place: () => ({ placed: false, reason: 'unused', etaS: 1 }),
      gpuScheduler: new GpuSchedulerClient(scheduler.url, 15_000, process.env.QUIRE_INTERNAL_TOKEN),
      gpuCheckpoint: () => false,
    } as LifecycleActivityDeps);
    const address = platformVar('QUIRE_TEMPORAL_ADDRESS');
    try {
      Runtime.install({ logger: new DefaultLogger('WARN') });
    } catch {
      // installed by another spec in this process
    }
    workerConnection = await NativeConnection.connect({ address });
    worker = await Worker.create({
      connection: workerConnection,
      taskQueue,
      workflowsPath: require.resolve('../src/workflows'),
      activities: { ...fleet.activities(), requestGpu: real.requestGpu, releaseGpu: real.releaseGpu },
    });
    workerRun = worker.run();
    connection = await Connection.connect({ address });
    client = new Client({ connection });
    await until(async () => {
      const r = await fetch(`${scheduler.url}/internal/gpu/inventory`, {
        headers: process.env.QUIRE_INTERNAL_TOKEN
          ? { authorization: `Bearer ${process.env.QUIRE_INTERNAL_TOKEN}` }
          : {},
      });
      return ((await r.json()) as { gpus: unknown[] }).gpus.length === 1;
    }, 'the scheduler to see the H100');
  });

  afterAll(async () => {
    clearInterval(beats);
    worker?.shutdown();
    await workerRun?.catch(() => undefined);
    await workerConnection?.close();
    await connection?.close();
    for (const s of [scheduler, billing]) if (s) await stopServiceProcess(s);
    await producer?.disconnect();
    if (pg) {
      for (const s of [schedulerSchema, billingSchema])
        await pg.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => undefined);
      await pg.end();
    }
    const admin = kafka?.admin();
    if (admin) {
      await admin.connect();
      const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
      await admin.deleteTopics({ topics: mine }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  const ensure = (kernelId: string, tenant: string, hibernateAfterMs: number): Promise<EnsureRunningResult> =>
    ensureKernelRunning(
      client,
      lifecycleInput(kernelId, {
        tenant,
        tier: 'gpu',
        gpu: { gpuType: 'h100-80gb', profile: 'full' },
        policy: {
          idleAfterMs: null,
          hibernateAfterMs,
          evictAfterMs: 120_000,
          backgroundSnapshotEveryMs: null,
        },
      }),
      { userId: `u-${tenant}`, reason: 'run' },
      taskQueue,
    );
  const schedulerState = async (requestId: string): Promise<GpuRequestState> => {
    const r = await fetch(`${scheduler.url}/internal/gpu/requests/${requestId}`, {
      headers: process.env.QUIRE_INTERNAL_TOKEN
        ? { authorization: `Bearer ${process.env.QUIRE_INTERNAL_TOKEN}` }
        : {},
    });
    return (await r.json()) as GpuRequestState;
  };

  it('two users ask for the last H100: the second waits at position 1 with an ETA and gets it when the first hibernates; billing books both intervals exactly', async () => {
    const first = `k-gpu-e2e-1-${run}`;
    const second = `k-gpu-e2e-2-${run}`;
    const a = await ensure(first, orgA, 8000);
    expect(a).toMatchObject({ state: 'RUNNING', hostId: 'gpu-host-e2e' });
    expect(fleet.allocations.find((r) => r.kernelId === first)!.gpu).toEqual({
      device: `GPU-e2e-${run}`,
      visibleDevice: '0',
    });

    const b = ensure(second, orgB, 60_000);
    await until(
      async () => (await stateOf(client, second).catch(() => null))?.gpu?.phase === 'queued',
      'queued',
    );
    const waiting = (await stateOf(client, second)).gpu!;
    expect(waiting).toMatchObject({ phase: 'queued', position: 1, allocation: null });
    // Busy holder with an 8 s idle period and no history: at least one idle period away, and honest about it.
    expect(waiting.etaS).toBeGreaterThanOrEqual(7);
    expect(waiting.etaS).toBeLessThan(60);
    expect(await schedulerState(`${second}.gpu-1`)).toMatchObject({ phase: 'queued', position: 1 });

    await waitForState(client, first, 'HIBERNATED', 60_000);
    const bRunning = await b;
    expect(bRunning).toMatchObject({ state: 'RUNNING', hostId: 'gpu-host-e2e' });
    const s1 = await schedulerState(`${first}.gpu-1`);
    const s2 = await schedulerState(`${second}.gpu-1`);
    expect(s1).toMatchObject({ phase: 'released', reason: expect.stringMatching(/^hibernated/) });
    expect(s2.phase).toBe('allocated');
    expect(s2.allocation!.device).toBe(`GPU-e2e-${run}`);

    const handle = client.workflow.getHandle(kernelLifecycleWorkflowId(second));
    await handle.signal(KERNEL_LIFECYCLE.terminateSignal, { reason: 'test done' });
    await handle.result();
    expect((await schedulerState(`${second}.gpu-1`)).phase).toBe('released');
    const first1 = client.workflow.getHandle(kernelLifecycleWorkflowId(first));
    await first1.signal(KERNEL_LIFECYCLE.terminateSignal, { reason: 'test done' });
    const firstFinal = (await first1.result()) as LifecycleSnapshot;
    expect(firstFinal.history.map((h) => h.to)).toContain('HIBERNATED');

    // The allocation intervals as the scheduler recorded them…
    const { rows: intervals } = await pg.query<{ tenant: string; ms: string }>(
      `SELECT tenant, (extract(epoch FROM released_at - allocated_at) * 1000)::bigint::text AS ms
         FROM ${schedulerSchema}.requests WHERE allocated_at IS NOT NULL ORDER BY tenant`,
    );
    expect(intervals.map((r) => r.tenant)).toEqual([orgA, orgB]);
    // …are what billing books, to the millisecond (base unit of gpu: ms).
    const ledger = await poll(
      async () => {
        const { rows } = await pg.query<{ org_id: string; ms: string }>(
          `SELECT org_id, sum(base_quantity)::text AS ms FROM ${billingSchema}.ledger
            WHERE resource = 'gpu' AND org_id = ANY($1) GROUP BY org_id ORDER BY org_id`,
          [[orgA, orgB]],
        );
        const got = rows.map((r) => ({ tenant: r.org_id, ms: r.ms }));
        return JSON.stringify(got) === JSON.stringify(intervals) ? got : false;
      },
      'billing to book the GPU intervals',
      60_000,
    ).catch(async (err: Error) => {
      const { rows } = await pg.query(
        `SELECT org_id, sku, sum(base_quantity)::text AS ms FROM ${billingSchema}.ledger WHERE resource = 'gpu' GROUP BY 1, 2`,
      );
      throw new Error(
        `${err.message}: scheduler ${JSON.stringify(intervals)}, ledger ${JSON.stringify(rows)}`,
      );
    });
    expect(ledger).toEqual(intervals);
  });
});
