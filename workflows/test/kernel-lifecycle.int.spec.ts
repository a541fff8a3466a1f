import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  uuidv7,
  type LifecycleSnapshot,
} from '@quire/contracts';
import { platformVar } from '@quire/service-kit';
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { ensureKernelRunning } from '../src/client/lifecycle-client';
import { FakeHostFleet } from '../src/testing/fake-host-fleet';
import { lifecycleInput, recordFixture, SHORT, stateOf, until, waitForState } from './lifecycle-harness';

/**
 * The kernelLifecycle workflow on the real Temporal server with mocked host
 * activities (an in-memory fleet): every transition of the state machine,
 * with the tier timers shortened. The real host worker is in
 * lifecycle-host-worker.int.spec.ts.
 */
jest.setTimeout(120_000);

const run = uuidv7().slice(-8);
const taskQueue = `lifecycle-it-${run}`;

describe('kernelLifecycle workflow (real Temporal, fake hosts)', () => {
  let connection: Connection;
  let client: Client;
  let workerConnection: NativeConnection;
  let worker: Worker;
  let workerRun: Promise<void>;
  const fleet = new FakeHostFleet(['host-a', 'host-b'], { warmPool: 1 });

  beforeAll(async () => {
    const address = platformVar('QUIRE_TEMPORAL_ADDRESS');
    Runtime.install({ logger: new DefaultLogger('WARN') });
    workerConnection = await NativeConnection.connect({ address });
    worker = await Worker.create({
      connection: workerConnection,
      taskQueue,
      workflowsPath: require.resolve('../src/workflows'),
      activities: fleet.activities(),
    });
    workerRun = worker.run();
    connection = await Connection.connect({ address });
    client = new Client({ connection });
  });

  afterAll(async () => {
    worker?.shutdown();
    await workerRun?.catch(() => undefined);
    await workerConnection?.close();
    await connection?.close();
  });

  const ensure = (kernelId: string, over = {}) =>
    ensureKernelRunning(
      client,
      lifecycleInput(kernelId, over),
      { userId: 'u-ada', reason: 'run' },
      taskQueue,
    );
  const handle = (kernelId: string) => client.workflow.getHandle(kernelLifecycleWorkflowId(kernelId));
  const activity = (kernelId: string, eventId = uuidv7()) =>
    handle(kernelId).signal(KERNEL_LIFECYCLE.activitySignal, {
      kind: 'execute-completed',
      eventId,
      at: new Date().toISOString(),
    });
  const finish = async (kernelId: string, fixture?: string) => {
    await handle(kernelId).signal(KERNEL_LIFECYCLE.terminateSignal, { reason: 'test done' });
    const final = (await handle(kernelId).result()) as LifecycleSnapshot;
    if (fixture) await recordFixture(client, kernelLifecycleWorkflowId(kernelId), fixture);
    return final;
  };
  const states = (s: LifecycleSnapshot) => s.history.map((h) => h.to);

  it('runs the whole life: warm start → idle → hibernate → restore → evict → fresh, telling the user why', async () => {
    const k = `k-life-${run}`;
    const first = await ensure(k);
    expect(first).toMatchObject({
      state: 'RUNNING',
      via: 'warm-pool',
      notice: null,
      hostId: expect.any(String),
    });
    // Activity keeps it RUNNING past the idle timer.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await activity(k);
    }
    expect((await stateOf(client, k)).state).toBe('RUNNING');
    const idle = await waitForState(client, k, 'IDLE');
    expect(idle.timers.hibernateAt).not.toBeNull();
    const hib = await waitForState(client, k, 'HIBERNATED');
    expect(hib.lastSnapshot).toMatchObject({ snapshotId: expect.stringMatching(/^s-/) });
    expect(hib.timers.evictAt).not.toBeNull();
    expect(fleet.sandboxesOf(k)).toEqual([{ hostId: first.hostId, state: 'hibernated' }]);

    const back = await ensure(k);
    expect(back).toMatchObject({ via: 'restore', hostId: first.hostId, notice: null });
    expect(fleet.sandboxesOf(k)).toEqual([{ hostId: first.hostId, state: 'running' }]);

    await waitForState(client, k, 'EVICTED', 20_000);
    expect(fleet.snapshots.get(k)?.size ?? 0).toBe(0); // snapshot deleted
    expect(fleet.sandboxesOf(k)).toEqual([]);
    const fresh = await ensure(k);
    expect(fresh.via).toBe('fresh-after-eviction');
    expect(fresh.notice).toMatch(/evicted.*Run All/);

    const final = await finish(k, 'full-lifecycle');
    expect(states(final)).toEqual([
      'PROVISION',
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
    const types = fleet.eventsOf(k).map((e) => e.type);
    expect(types[0]).toBe('KernelRequested');
    expect(types.filter((t) => t === 'KernelEvicted')).toHaveLength(1);
    expect(types.filter((t) => t === 'KernelStateChanged')).toHaveLength(12);
    expect(fleet.sandboxesOf(k)).toEqual([]);
  });

  it('GPU tier: no IDLE step, hibernates straight after its (shortened) 5 minutes, evicts after its 24 h', async () => {
    const k = `k-gpu-${run}`;
    // 5 min and 24 h scaled by the same factor (1/200 000 → 1.5 s and 432 ms… kept ≥ 1 s for timer precision).
    await ensure(k, { tier: 'gpu', policy: { hibernateAfterMs: 1500, evictAfterMs: 2500 } });
    const s = await stateOf(client, k);
    expect(s.policy).toMatchObject({ idleAfterMs: null, hibernateAfterMs: 1500 });
    expect(s.timers.idleAt).toBeNull();
    expect(s.timers.hibernateAt).not.toBeNull();
    await waitForState(client, k, 'HIBERNATED');
    await waitForState(client, k, 'EVICTED');
    const final = await finish(k, 'gpu-tier');
    expect(states(final)).toEqual(['COLD_BOOT', 'RUNNING', 'HIBERNATED', 'EVICTED', 'ABSENT']);
  });

  it('the real GPU policy data: hibernate 5 min, evict 24 h, no idle step', async () => {
    const k = `k-gpu-real-${run}`;
    await ensure(k, { tier: 'gpu', policy: {} });
    const s = await stateOf(client, k);
    expect(s.policy).toMatchObject({
      idleAfterMs: null,
      hibernateAfterMs: 5 * 60_000,
      evictAfterMs: 24 * 3_600_000,
    });
    const hibernateIn = Date.parse(s.timers.hibernateAt!) - Date.now();
    expect(hibernateIn).toBeGreaterThan(4 * 60_000);
    expect(hibernateIn).toBeLessThanOrEqual(5 * 60_000);
    await finish(k);
  });

  it('OOM: an honest KernelDied with the figures, once even if the event is redelivered; the next run is fresh', async () => {
    const k = `k-oom-${run}`;
    const started = await ensure(k);
    const exited = {
      kind: 'sandbox-exited',
      eventId: uuidv7(),
      hostId: started.hostId,
      reason: 'oom',
      message: 'out of memory',
      peakMemoryBytes: 8.37e9,
      memoryLimitBytes: 8 * 1024 ** 3,
    };
    await handle(k).signal(KERNEL_LIFECYCLE.hostEventSignal, exited);
    await handle(k).signal(KERNEL_LIFECYCLE.hostEventSignal, exited); // Kafka redelivery
    const dead = await waitForState(client, k, 'DEAD');
    expect(dead.lastDeath).toMatchObject({
      reason: 'oom',
      message: 'Kernel died (out of memory at 7.80 GiB / 8.00 GiB).',
    });
    await until(() => fleet.eventsOf(k).some((e) => e.type === 'KernelDied'), 'KernelDied');
    const again = await ensure(k);
    expect(again.via).toBe('fresh-after-death');
    expect(again.notice).toMatch(/out of memory at 7\.80 GiB \/ 8\.00 GiB.*Run All/);
    const final = await finish(k, 'oom-then-fresh');
    expect(fleet.eventsOf(k).filter((e) => e.type === 'KernelDied')).toEqual([
      expect.objectContaining({ reason: 'oom', peakMemoryBytes: 8.37e9 }),
    ]);
    expect(states(final).slice(1)).toEqual(['RUNNING', 'DEAD', 'COLD_BOOT', 'RUNNING', 'ABSENT']);
  });

  it('host lost with a snapshot: restored on another host; without one: KernelDied(host_lost)', async () => {
    const k = `k-lost-${run}`;
    const policy = { ...SHORT, hibernateAfterMs: 1000, evictAfterMs: 60_000 };
    const a = await ensure(k, { policy });
    await waitForState(client, k, 'HIBERNATED');
    const b = await ensure(k);
    expect(b.via).toBe('restore');
    fleet.kill(b.hostId);
    await handle(k).signal(KERNEL_LIFECYCLE.hostEventSignal, {
      kind: 'host-lost',
      eventId: `host-lost:${b.hostId}:1`,
      hostId: b.hostId,
    });
    await until(async () => {
      const s = await stateOf(client, k);
      return s.state === 'RUNNING' && s.hostId !== null && s.hostId !== b.hostId;
    }, 'restore elsewhere');
    const moved = await stateOf(client, k);
    expect(moved.lastDeath?.reason).toBe('host_lost');
    expect(fleet.sandboxesOf(k)).toEqual([{ hostId: moved.hostId, state: 'running' }]);
    expect(a.hostId).toBeDefined();
    await finish(k, 'host-lost-restored');
    fleet.hosts.get(b.hostId)!.alive = true;

    const n = `k-lost-nosnap-${run}`;
    const c = await ensure(n, { policy: { ...SHORT, idleAfterMs: 60_000 } });
    fleet.kill(c.hostId);
    await handle(n).signal(KERNEL_LIFECYCLE.hostEventSignal, {
      kind: 'host-lost',
      eventId: `host-lost:${c.hostId}:7`,
      hostId: c.hostId,
    });
    const dead = await waitForState(client, n, 'DEAD');
    expect(dead.lastDeath).toMatchObject({
      reason: 'host_lost',
      message: expect.stringMatching(/no snapshot/),
    });
    await until(
      () => fleet.eventsOf(n).some((e) => e.type === 'KernelDied' && e.reason === 'host_lost'),
      'KernelDied(host_lost)',
    );
    fleet.hosts.get(c.hostId)!.alive = true;
    await finish(n, 'host-lost-died');
  });

  it('snapshot too big: memory is freed anyway and the user is told to Run All on return', async () => {
    const k = `k-big-${run}`;
    fleet.tooBig.add(k);
    await ensure(k);
    const dead = await waitForState(client, k, 'DEAD');
    expect(dead.lastDeath?.reason).toBe('snapshot_too_big');
    expect(fleet.sandboxesOf(k)).toEqual([]);
    fleet.tooBig.delete(k);
    const back = await ensure(k);
    expect(back.notice).toMatch(/snapshots are limited.*Run All/);
    await finish(k, 'snapshot-too-big');
  });

  it('admission control: a start queues with an ETA while capacity is short, then runs', async () => {
    const k = `k-queue-${run}`;
    fleet.queueFor.set(k, 2);
    const pending = ensure(k);
    await until(async () => (await stateOf(client, k).catch(() => undefined))?.queued != null, 'queued');
    expect((await stateOf(client, k)).queued).toMatchObject({
      reason: expect.stringMatching(/headroom/),
      etaS: 1,
    });
    const r = await pending;
    expect(r.queuedMs).toBeGreaterThanOrEqual(1500);
    expect((await stateOf(client, k)).queued).toBeNull();
    await finish(k, 'admission-queued');
  });

  it('continues as new with a bounded history and keeps its state, timers and dedupe set', async () => {
    const k = `k-can-${run}`;
    await ensure(k, { policy: { ...SHORT, idleAfterMs: 60_000, maxHistoryEvents: 40 } });
    const dup = uuidv7();
    for (let i = 0; i < 30; i++) await activity(k, i === 0 ? dup : uuidv7());
    await until(async () => ((await stateOf(client, k)).generation ?? 0) >= 1, 'continue-as-new');
    const s = await stateOf(client, k);
    expect(s.state).toBe('RUNNING');
    const history = await handle(k).fetchHistory();
    expect(history.events!.length).toBeLessThan(80);
    await finish(k);
  });

  it('rejects a bad ensureRunning with a clear error and changes nothing', async () => {
    const k = `k-bad-${run}`;
    await ensure(k);
    await expect(
      handle(k).executeUpdate(KERNEL_LIFECYCLE.ensureRunningUpdate, { args: [{ reason: 'run' }] }),
    ).rejects.toThrow(WorkflowUpdateFailedError);
    expect((await stateOf(client, k)).state).toBe('RUNNING');
    await finish(k);
  });

  it('warm pool autoscaler: sets each host’s pool to its planned size, only when it differs', async () => {
    fleet.warmPlan = [
      { hostId: 'host-a', apiUrl: 'http://host-a.invalid', current: 1, target: 4, recentCreations: 90 },
      { hostId: 'host-b', apiUrl: 'http://host-b.invalid', current: 1, target: 1, recentCreations: 0 },
    ];
    const h = await client.workflow.start('warmPoolAutoscaler', {
      workflowId: `warm-pool-autoscaler-it-${run}`,
      taskQueue,
      args: [{ intervalMs: 300, roundsPerRun: 3 }],
    });
    await until(() => fleet.warmTargets.length > 0, 'a pool resized');
    await new Promise((r) => setTimeout(r, 1000));
    await h.terminate('test done');
    expect(fleet.warmTargets).toEqual([{ hostId: 'host-a', target: 4 }]);
  });

  it('background snapshot after its period of activity, but not while a cell runs; the kernel keeps running', async () => {
    const k = `k-bg-${run}`;
    await ensure(k, { policy: { ...SHORT, idleAfterMs: 60_000, backgroundSnapshotEveryMs: 1000 } });
    const signal = (kind: string) =>
      handle(k).signal(KERNEL_LIFECYCLE.activitySignal, {
        kind,
        eventId: uuidv7(),
        at: new Date().toISOString(),
      });
    await signal('execute-started');
    await new Promise((r) => setTimeout(r, 2500));
    expect(fleet.calls.filter((c) => c.kernelId === k && c.name === 'checkpointKernel')).toEqual([]);
    await signal('execute-completed');
    await until(
      () => fleet.calls.some((c) => c.kernelId === k && c.name === 'checkpointKernel'),
      'background snapshot',
    );
    await until(async () => (await stateOf(client, k)).lastSnapshot !== null, 'lastSnapshot recorded');
    expect((await stateOf(client, k)).state).toBe('RUNNING');
    expect(fleet.sandboxesOf(k)).toEqual([expect.objectContaining({ state: 'running' })]);
    await finish(k, 'background-snapshot');
  });
});
