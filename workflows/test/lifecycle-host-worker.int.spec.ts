import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ExecuteCompleted,
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  TOPICS,
  uuidv7,
  type EventEnvelope,
  type LifecyclePolicy,
  type LifecycleSnapshot,
} from '@quire/contracts';
import { createKafka, createProducer, EventConsumer, EventProducer } from '@quire/contracts/kafka';
import { createS3Client, loadConfig, platformVar, s3ConfigSchema } from '@quire/service-kit';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { Producer } from 'kafkajs';
import { SnapshotJanitor } from '../src/activities/snapshot-janitor';
import { ensureKernelRunning } from '../src/client/lifecycle-client';
import { lifecycleInput, recordFixture, runCell, stateOf, until, waitForState } from './lifecycle-harness';
import {
  hostWorkerProcess,
  removeRunscContainers,
  runscContainers,
  workflowWorkerProcess,
  type HostProcess,
  type ServiceProcess,
} from './service-processes';

/**
 * The lifecycle against the real pieces: two host workers (gVisor sandboxes,
 * snapshots through S3), the workflow worker process (activities, bridge,
 * host registry) and the platform's Kafka and Temporal, all as separate
 * processes so they can be killed with -9. Timers are shortened per kernel
 * through the policy override.
 */
jest.setTimeout(900_000);

const MiB = 1024 ** 2;
const run = uuidv7().slice(-8);
const taskQueue = `lifecycle-hw-${run}`;
const KILL_ROUNDS = Number(process.env.QUIRE_LIFECYCLE_KILL_ROUNDS ?? '3');

describe('kernel lifecycle on real host workers', () => {
  let hostA: HostProcess;
  let hostB: HostProcess;
  let worker: ServiceProcess;
  let connection: Connection;
  let client: Client;
  let consumer: EventConsumer;
  let producer: Producer;
  let gateway: EventProducer;
  let janitor: SnapshotJanitor;
  const lifecycleEvents: EventEnvelope[] = [];
  const started: string[] = [];

  const hosts = () => [hostA, hostB];
  const hostOf = (hostId: string) => hosts().find((h) => h.hostId === hostId)!;
  const handle = (k: string) => client.workflow.getHandle(kernelLifecycleWorkflowId(k));
  const ensure = (k: string, policy: Partial<LifecyclePolicy>, over: Record<string, unknown> = {}) => {
    if (!started.includes(k)) started.push(k);
    // Only this run's two hosts qualify: other test files' host workers heartbeat on the same topic.
    const labels = { itrun: run, ...((over.labels as Record<string, string> | undefined) ?? {}) };
    return ensureKernelRunning(
      client,
      lifecycleInput(k, { policy, ...over, labels }),
      { userId: 'u-ada', reason: 'run' },
      taskQueue,
    );
  };
  const kernelsOn = async (h: HostProcess) =>
    (
      (await (await fetch(`${h.apiUrl}/internal/kernels`)).json()) as {
        kernels: { kernelId: string; state: string; sandboxId: string; lastSnapshotId: string | null }[];
      }
    ).kernels;
  const eventsOf = (k: string, type: string) =>
    lifecycleEvents.filter((e) => e.subject === k && e.type === `quire.kernel.${type}`);
  /** What the gateway would publish after a cell ran: the bridge turns it into an activity signal. */
  const userRanACell = (k: string) =>
    gateway.publish(ExecuteCompleted, {
      subject: k,
      tenant: 'org-lifecycle-it',
      data: { executionId: uuidv7(), kernelId: k, userId: 'u-ada', status: 'ok', ms: 5, executionCount: 1 },
    });
  const pendingActivity = async (k: string, type: string) => {
    const d = await handle(k).describe();
    return (d.raw.pendingActivities ?? []).some(
      (a) => a.activityType?.name === type && String(a.state) !== '1', // 1 = SCHEDULED: not yet on a worker
    );
  };
  const finish = async (k: string) => {
    await handle(k).signal(KERNEL_LIFECYCLE.terminateSignal, { reason: 'test done' });
    return (await handle(k).result()) as LifecycleSnapshot;
  };

  beforeAll(async () => {
    const bundle = join(mkdtempSync(join(tmpdir(), 'quire-wf-bundle-')), 'bundle.js');
    const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../src/workflows') });
    writeFileSync(bundle, code);
    const volumes = mkdtempSync(join(tmpdir(), 'quire-lc-volumes-'));
    hostA = await hostWorkerProcess(`lc-a-${run}`, mkdtempSync(join(tmpdir(), 'quire-lc-a-')), {
      QUIRE_HOST_LABELS: `zone=a,itrun=${run}`,
      QUIRE_WARM_POOL_SIZE: '1',
      QUIRE_VOLUMES_DIR: volumes,
    });
    hostB = await hostWorkerProcess(`lc-b-${run}`, mkdtempSync(join(tmpdir(), 'quire-lc-b-')), {
      QUIRE_HOST_LABELS: `zone=b,itrun=${run}`,
      QUIRE_VOLUMES_DIR: volumes,
    });
    await Promise.all([hostA.proc.start(), hostB.proc.start()]);
    worker = await workflowWorkerProcess({
      QUIRE_LIFECYCLE_TASK_QUEUE: taskQueue,
      QUIRE_LIFECYCLE_BRIDGE_GROUP: `lifecycle-bridge-it-${run}`,
      QUIRE_HOST_LOST_AFTER_MS: '5000',
      // Pool sizes stay as set here (the autoscaler has its own test with fake hosts).
      QUIRE_WARM_POOL_AUTOSCALE_INTERVAL_MS: '0',
      QUIRE_WORKFLOW_BUNDLE: bundle,
      QUIRE_INSTANCE_ID: `lc-it-${run}`,
    });
    await worker.start();

    const kafka = createKafka({
      brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','),
      clientId: `lc-it-${run}`,
    });
    consumer = new EventConsumer({
      kafka,
      groupId: `lifecycle-it-${run}`,
      topics: [TOPICS.kernelLifecycle.name],
      fromBeginning: true,
      handler: async (e) => {
        if (e.subject.endsWith(run)) lifecycleEvents.push(e);
      },
    });
    await consumer.start();
    producer = createProducer(kafka);
    await producer.connect();
    gateway = new EventProducer(producer, 'gateway', 'lifecycle-it');
    janitor = new SnapshotJanitor(createS3Client(loadConfig(s3ConfigSchema)), 'quire-snapshots');
    connection = await Connection.connect({ address: platformVar('QUIRE_TEMPORAL_ADDRESS') });
    client = new Client({ connection });
  });

  afterAll(async () => {
    for (const k of started) {
      await handle(k)
        .signal(KERNEL_LIFECYCLE.terminateSignal, { reason: 'cleanup' })
        .catch(() => undefined);
    }
    // Poll (not result()): a long-poll left pending would outlive the connection.
    const end = Date.now() + 30_000;
    for (const k of started) {
      while (Date.now() < end) {
        const d = await handle(k)
          .describe()
          .catch(() => undefined);
        if (!d || d.status.name !== 'RUNNING') break;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await worker?.stop();
    await Promise.all([hostA?.proc.stop(), hostB?.proc.stop()]);
    for (const h of [hostA, hostB]) if (h) removeRunscContainers(h.stateDir);
    await consumer?.stop();
    await producer?.disconnect();
    await connection?.close();
  });

  it('run → idle → hibernate (sandbox gone) → run → restored with variables → evicted → fresh, and says why', async () => {
    const k = `k-real-${run}`;
    const policy = {
      idleAfterMs: 3000,
      hibernateAfterMs: 2000,
      evictAfterMs: 8000,
      backgroundSnapshotEveryMs: null,
    };
    const first = await ensure(k, policy);
    expect(['warm-pool', 'cold-boot']).toContain(first.via);
    expect(first.hostApiUrl).toBe(hostOf(first.hostId).apiUrl);
    expect(
      (await runCell(first.hostApiUrl, k, 'import numpy as np\nx = 41\narr = np.arange(10**6)\nx + 1'))
        .result,
    ).toBe('42');

    // Activity through Kafka → bridge → signal keeps the kernel RUNNING past its 3 s idle timer.
    for (let i = 0; i < 5; i++) {
      await userRanACell(k);
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect((await stateOf(client, k)).state).toBe('RUNNING');
    const signalled = (await handle(k).fetchHistory()).events!.filter(
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === KERNEL_LIFECYCLE.activitySignal,
    );
    expect(signalled.length).toBeGreaterThanOrEqual(4);

    await waitForState(client, k, 'IDLE', 20_000);
    const hibernated = await waitForState(client, k, 'HIBERNATED', 60_000);
    const onHost = (await kernelsOn(hostOf(first.hostId))).find((x) => x.kernelId === k)!;
    expect(onHost.state).toBe('hibernated');
    // Memory really freed: runsc has no sandbox for it any more.
    expect(runscContainers(hostOf(first.hostId).stateDir).map((c) => c.id)).not.toContain(onHost.sandboxId);
    expect(await janitor.list(k)).toEqual([hibernated.lastSnapshot!.snapshotId]);

    const back = await ensure(k, policy);
    expect(back).toMatchObject({ via: 'restore', notice: null });
    expect((await runCell(back.hostApiUrl, k, 'x + 1, int(arr.sum())')).result).toBe('(42, 499999500000)');

    await waitForState(client, k, 'HIBERNATED', 60_000);
    await waitForState(client, k, 'EVICTED', 30_000);
    expect(await janitor.list(k)).toEqual([]);
    for (const h of hosts()) expect((await kernelsOn(h)).map((x) => x.kernelId)).not.toContain(k);

    const fresh = await ensure(k, policy);
    expect(fresh.via).toBe('fresh-after-eviction');
    expect(fresh.notice).toMatch(/evicted\. Run All/);
    expect((await runCell(fresh.hostApiUrl, k, 'x')).ename).toBe('NameError');

    const final = await finish(k);
    await recordFixture(client, kernelLifecycleWorkflowId(k), 'real-host-full-lifecycle');
    expect(final.history.map((h) => h.to).slice(1)).toEqual([
      'RUNNING',
      'IDLE',
      'HIBERNATED',
      'RESTORE',
      'RUNNING',
      'IDLE',
      'HIBERNATED',
      'EVICTED',
      'COLD_BOOT',
      'RUNNING',
      'ABSENT',
    ]);
    await until(() => eventsOf(k, 'KernelStateChanged').length >= 12, 'lifecycle events on Kafka');
    expect(eventsOf(k, 'KernelRequested')).toHaveLength(1);
    expect(eventsOf(k, 'KernelEvicted')).toHaveLength(1);
    expect(new Set(eventsOf(k, 'KernelStateChanged').map((e) => e.id)).size).toBe(12);
  });

  it('OOM on the host reaches the workflow through Kafka: KernelDied(oom), then a fresh kernel that says why', async () => {
    const k = `k-oom-${run}`;
    const policy = { idleAfterMs: 60_000 };
    const r = await ensure(k, policy, { limits: { memoryBytes: 256 * MiB } });
    const cell = await runCell(r.hostApiUrl, k, 'hog = bytearray(900 * 1024 * 1024)');
    expect(cell.error).toMatch(/out of memory/);
    const dead = await waitForState(client, k, 'DEAD', 30_000);
    expect(dead.lastDeath).toMatchObject({
      reason: 'oom',
      message: expect.stringMatching(/out of memory at [\d.]+ GiB \/ 0\.25 GiB/),
    });
    await until(() => eventsOf(k, 'KernelDied').length > 0, 'KernelDied on Kafka');
    expect(eventsOf(k, 'KernelDied')[0]!.data).toMatchObject({ reason: 'oom', memoryLimitBytes: 256 * MiB });
    const again = await ensure(k, policy, { limits: { memoryBytes: 256 * MiB } });
    expect(again.via).toBe('fresh-after-death');
    expect(again.notice).toMatch(/out of memory.*Run All/);
    await finish(k);
    await recordFixture(client, kernelLifecycleWorkflowId(k), 'real-host-oom');
  });

  it(`kill -9 of the workflow worker during snapshot and during restore (${KILL_ROUNDS}× each): one sandbox, nothing orphaned`, async () => {
    const k = `k-crash-${run}`;
    const policy = { idleAfterMs: 1000, hibernateAfterMs: 1000, evictAfterMs: 600_000 };
    const r = await ensure(k, policy);
    await runCell(r.hostApiUrl, k, 'survivor = 7');
    const timings: { snapshotKillToHibernatedMs: number; restoreKillToRunningMs: number }[] = [];
    for (let i = 0; i < KILL_ROUNDS; i++) {
      await until(() => pendingActivity(k, 'snapshotKernel'), `snapshot in flight (round ${i + 1})`, 60_000);
      await worker.kill9();
      const t0 = Date.now();
      await worker.start();
      await waitForState(client, k, 'HIBERNATED', 120_000);
      const t1 = Date.now();

      const restoring = ensure(k, policy);
      await until(() => pendingActivity(k, 'restoreKernel'), `restore in flight (round ${i + 1})`, 60_000);
      await worker.kill9();
      const t2 = Date.now();
      await worker.start();
      const back = await restoring;
      timings.push({ snapshotKillToHibernatedMs: t1 - t0, restoreKillToRunningMs: Date.now() - t2 });
      expect(back.via).toBe('restore');
      expect((await runCell(back.hostApiUrl, k, 'survivor')).result).toBe('7');
      // Exactly one sandbox for the kernel across hosts, and exactly one host that knows it.
      const holders: { h: HostProcess; x: { state: string; sandboxId: string } }[] = [];
      for (const h of hosts())
        for (const x of await kernelsOn(h)) if (x.kernelId === k) holders.push({ h, x });
      expect(holders).toHaveLength(1);
      expect(holders[0]!.x.state).toBe('running');
      const containers = hosts()
        .flatMap((h) => runscContainers(h.stateDir))
        .filter((c) => c.id === holders[0]!.x.sandboxId);
      expect(containers).toHaveLength(1);
      // Retried snapshots leave no second image behind.
      await until(async () => (await janitor.list(k)).length <= 1, 'superseded snapshots deleted', 20_000);
    }
    console.log(`worker kill -9 rounds: ${JSON.stringify(timings)}`);
    const final = await finish(k);
    expect(final.state).toBe('ABSENT');
    for (const h of hosts()) expect((await kernelsOn(h)).map((x) => x.kernelId)).not.toContain(k);
    expect(await janitor.list(k)).toEqual([]);
    await recordFixture(client, kernelLifecycleWorkflowId(k), 'real-host-worker-kills');
  });

  it('kill -9 of a host worker: the snapshotted kernel comes back on the other host; one without a snapshot dies honestly', async () => {
    const k1 = `k-hl-snap-${run}`;
    const k2 = `k-hl-none-${run}`;
    const r1 = await ensure(k1, { idleAfterMs: 120_000, backgroundSnapshotEveryMs: 2000 });
    await runCell(r1.hostApiUrl, k1, 'keep = "before the crash"');
    await userRanACell(k1); // activity since the last snapshot → a background snapshot in 2 s
    await until(async () => (await stateOf(client, k1)).lastSnapshot !== null, 'background snapshot', 60_000);
    await until(async () => (await stateOf(client, k1)).state === 'RUNNING', 'running after the snapshot');
    expect((await runCell(r1.hostApiUrl, k1, 'keep')).result).toBe("'before the crash'");
    const doomed = hostOf(r1.hostId);
    const zone = doomed === hostA ? 'a' : 'b';
    const r2 = await ensure(
      k2,
      { idleAfterMs: 120_000, backgroundSnapshotEveryMs: null },
      { labels: { zone } },
    );
    expect(r2.hostId).toBe(doomed.hostId);

    // The host "machine" dies: its worker and its sandboxes. (On one test machine the orphaned
    // gVisor sandbox would otherwise keep its control socket, whose name is the sandbox id, and
    // block the restore of the same sandbox on the other host worker here.)
    const lostSandboxes = (await kernelsOn(doomed))
      .filter((x) => x.kernelId === k1 || x.kernelId === k2)
      .map((x) => x.sandboxId);
    expect(lostSandboxes).toHaveLength(2);
    await doomed.proc.kill9();
    removeRunscContainers(doomed.stateDir);
    await until(
      async () => {
        const s = await stateOf(client, k1);
        return s.state === 'RUNNING' && s.hostId !== null && s.hostId !== doomed.hostId;
      },
      'restore on the other host',
      90_000,
    );
    const moved = await stateOf(client, k1);
    expect(moved.lastDeath?.reason).toBe('host_lost');
    expect((await runCell(moved.hostApiUrl!, k1, 'keep')).result).toBe("'before the crash'");

    const dead = await waitForState(client, k2, 'DEAD', 60_000);
    expect(dead.lastDeath).toMatchObject({
      reason: 'host_lost',
      message: expect.stringMatching(/no snapshot/),
    });
    await until(() => eventsOf(k2, 'KernelDied').length > 0, 'KernelDied(host_lost) on Kafka');
    expect(eventsOf(k2, 'KernelDied')[0]!.data).toMatchObject({ reason: 'host_lost' });

    // The host comes back: it forgets the kernels it lost (they live elsewhere or died), and
    // none of their sandboxes runs there.
    await doomed.proc.start();
    await until(
      async () => (await kernelsOn(doomed)).every((x) => x.kernelId !== k1 && x.kernelId !== k2),
      'the restarted host forgets the lost kernels',
      60_000,
    );
    expect(runscContainers(doomed.stateDir).map((c) => c.id)).not.toContain(lostSandboxes[0]);
    expect(runscContainers(doomed.stateDir).map((c) => c.id)).not.toContain(lostSandboxes[1]);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await stateOf(client, k1)).hostId).toBe(moved.hostId);
    await finish(k1);
    await finish(k2);
    await recordFixture(client, kernelLifecycleWorkflowId(k1), 'real-host-lost-restored');
  });
});
