import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  uuidv7,
  type EnsureRunningResult,
  type LifecycleSnapshot,
} from '@quire/contracts';
import { platformVar } from '@quire/service-kit';
import { ApplicationFailure } from '@temporalio/activity';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { ensureKernelRunning } from '../src/client/lifecycle-client';
import { FakeGpuScheduler } from '../src/testing/fake-gpu-scheduler';
import { FakeHostFleet } from '../src/testing/fake-host-fleet';
import { lifecycleInput, recordFixture, stateOf, until, waitForState } from './lifecycle-harness';

/**
 * GPU kernels in the kernelLifecycle workflow on the real Temporal server,
 * with mocked activities (in-memory hosts and an in-memory gpu-scheduler that
 * keeps the contract's queue and idempotency): request → queued (position,
 * ETA in the state query) → allocated → started on the GPU's host with only
 * that device → hibernated → released `hibernated` → the next in line gets
 * the device; death and host loss release with `died`. Tier timers shortened.
 */
jest.setTimeout(120_000);

const run = uuidv7().slice(-8);
const taskQueue = `gpu-lifecycle-it-${run}`;
const H100 = { gpuType: 'h100-80gb', profile: 'full' };

describe('kernelLifecycle with GPUs (real Temporal, fake hosts and scheduler)', () => {
  let connection: Connection;
  let client: Client;
  let workerConnection: NativeConnection;
  let worker: Worker;
  let workerRun: Promise<void>;
  const fleet = new FakeHostFleet(['gpu-host-a', 'gpu-host-b', 'cpu-host'], { warmPool: 0 });

  beforeAll(async () => {
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

  const gpuInput = (kernelId: string, hibernateAfterMs: number) =>
    lifecycleInput(kernelId, {
      tier: 'gpu',
      gpu: H100,
      policy: { idleAfterMs: null, hibernateAfterMs, evictAfterMs: 120_000, backgroundSnapshotEveryMs: null },
    });
  const ensure = (kernelId: string, hibernateAfterMs = 1500): Promise<EnsureRunningResult> =>
    ensureKernelRunning(
      client,
      gpuInput(kernelId, hibernateAfterMs),
      { userId: 'u-ada', reason: 'run' },
      taskQueue,
    );
  const handle = (kernelId: string) => client.workflow.getHandle(kernelLifecycleWorkflowId(kernelId));
  const finish = async (kernelId: string, fixture?: string) => {
    await handle(kernelId).signal(KERNEL_LIFECYCLE.terminateSignal, { reason: 'test done' });
    const final = (await handle(kernelId).result()) as LifecycleSnapshot;
    if (fixture) await recordFixture(client, kernelLifecycleWorkflowId(kernelId), fixture);
    return final;
  };
  const releasesOf = (gpu: FakeGpuScheduler, kernelId: string) =>
    gpu.releases.filter((r) => r.requestId.startsWith(kernelId)).map((r) => r.reason);

  it('queues for the last H100 with position and ETA, gets it when the holder hibernates, and is told GPU memory was not kept', async () => {
    const gpu = new FakeGpuScheduler(
      [
        {
          hostId: 'gpu-host-b',
          device: 'GPU-b0',
          gpuType: 'h100-80gb',
          visibleDevice: '0',
          cudaCheckpoint: false,
        },
      ],
      4, // a short ETA keeps the workflow's polls 2 s apart
    );
    fleet.gpuScheduler = gpu;
    const first = `k-gpu-first-${run}`;
    const second = `k-gpu-second-${run}`;

    const a = await ensure(first);
    expect(a).toMatchObject({ state: 'RUNNING', hostId: 'gpu-host-b', via: 'cold-boot' });
    const started = fleet.allocations.find((r) => r.kernelId === first)!;
    expect(started.gpu).toEqual({ device: 'GPU-b0', visibleDevice: '0' });
    expect((await stateOf(client, first)).gpu).toMatchObject({
      phase: 'allocated',
      requestId: `${first}.gpu-1`,
      allocation: { hostId: 'gpu-host-b', device: 'GPU-b0' },
      cudaCheckpoint: false,
    });

    // The second user waits: the state query shows the queue, as the editor will.
    const b = ensure(second, 60_000);
    await until(
      async () => (await stateOf(client, second).catch(() => null))?.gpu?.phase === 'queued',
      'queued',
    );
    const waiting = (await stateOf(client, second)).gpu!;
    expect(waiting).toMatchObject({ phase: 'queued', position: 1, etaS: 4, allocation: null });
    expect(waiting.queuedSince).not.toBeNull();

    // First goes idle → hibernates → its GPU goes back with reason `hibernated` → second gets it.
    await waitForState(client, first, 'HIBERNATED');
    expect(releasesOf(gpu, first)).toEqual(['hibernated']);
    const bRunning = await b;
    expect(bRunning).toMatchObject({ state: 'RUNNING', hostId: 'gpu-host-b' });
    expect(gpu.heldBy('GPU-b0')).toBe(`${second}.gpu-1`);
    expect((await stateOf(client, first)).gpu).toMatchObject({ phase: 'released', allocation: null });

    // Second ends; first comes back with a new request and an honest notice.
    await finish(second);
    expect(releasesOf(gpu, second)).toEqual(['terminated']);
    const back = await ensure(first);
    expect(back.via).toBe('restore');
    expect(back.notice).toMatch(/GPU memory was not kept/);
    expect(fleet.restores.filter((r) => r.kernelId === first).map((r) => r.gpu)).toEqual([
      { device: 'GPU-b0', visibleDevice: '0' },
    ]);
    expect((await stateOf(client, first)).gpu).toMatchObject({
      phase: 'allocated',
      requestId: `${first}.gpu-2`,
    });

    const final = await finish(first, 'gpu-scheduler-lifecycle');
    expect(final.history.map((h) => h.to)).toEqual([
      'COLD_BOOT',
      'RUNNING',
      'HIBERNATED',
      'RESTORE',
      'RUNNING',
      'ABSENT',
    ]);
    expect(releasesOf(gpu, first)).toEqual(['hibernated', 'terminated']);
    expect(gpu.heldBy('GPU-b0')).toBeUndefined();
  });

  it('says nothing about GPU memory when the host keeps it (cuda-checkpoint)', async () => {
    const gpu = new FakeGpuScheduler([
      {
        hostId: 'gpu-host-a',
        device: 'GPU-a0',
        gpuType: 'h100-80gb',
        visibleDevice: '0',
        cudaCheckpoint: true,
      },
    ]);
    fleet.gpuScheduler = gpu;
    const k = `k-gpu-ckpt-${run}`;
    await ensure(k);
    await waitForState(client, k, 'HIBERNATED');
    const back = await ensure(k);
    expect(back).toMatchObject({ via: 'restore', notice: null });
    await finish(k);
  });

  it('releases the GPU with reason died when the kernel dies', async () => {
    const gpu = new FakeGpuScheduler([
      {
        hostId: 'gpu-host-a',
        device: 'GPU-a0',
        gpuType: 'h100-80gb',
        visibleDevice: '0',
        cudaCheckpoint: false,
      },
    ]);
    fleet.gpuScheduler = gpu;
    const k = `k-gpu-oom-${run}`;
    await ensure(k, 60_000);
    await handle(k).signal(KERNEL_LIFECYCLE.hostEventSignal, {
      kind: 'sandbox-exited',
      eventId: uuidv7(),
      hostId: 'gpu-host-a',
      reason: 'oom',
    });
    await waitForState(client, k, 'DEAD');
    expect(gpu.releases.filter((r) => r.requestId === `${k}.gpu-1`)).toEqual([
      { requestId: `${k}.gpu-1`, reason: 'died', detail: expect.stringMatching(/oom/) },
    ]);
    expect(gpu.heldBy('GPU-a0')).toBeUndefined();
    await finish(k);
    expect(releasesOf(gpu, k)).toEqual(['died']); // terminate after death releases nothing twice
  });

  it('releases the GPU when its host is lost, and a new start gets a device on a live host', async () => {
    const gpu = new FakeGpuScheduler([
      {
        hostId: 'gpu-host-a',
        device: 'GPU-a0',
        gpuType: 'h100-80gb',
        visibleDevice: '0',
        cudaCheckpoint: false,
      },
      {
        hostId: 'gpu-host-b',
        device: 'GPU-b0',
        gpuType: 'h100-80gb',
        visibleDevice: '0',
        cudaCheckpoint: false,
      },
    ]);
    fleet.gpuScheduler = gpu;
    const k = `k-gpu-lost-${run}`;
    const r = await ensure(k, 60_000);
    const lost = r.hostId;
    await handle(k).signal(KERNEL_LIFECYCLE.hostEventSignal, {
      kind: 'host-lost',
      eventId: uuidv7(),
      hostId: lost,
    });
    await waitForState(client, k, 'DEAD');
    expect(gpu.releases.filter((x) => x.requestId === `${k}.gpu-1`)).toEqual([
      { requestId: `${k}.gpu-1`, reason: 'died', detail: `host ${lost} lost` },
    ]);
    // The scheduler would no longer offer the lost host's GPU; here we take it out by hand.
    gpu.devices.splice(
      gpu.devices.findIndex((d) => d.hostId === lost),
      1,
    );
    const fresh = await ensure(k, 60_000);
    expect(fresh).toMatchObject({ via: 'fresh-after-death', notice: expect.stringMatching(/Run All/) });
    expect(fresh.hostId).not.toBe(lost);
    expect((await stateOf(client, k)).gpu).toMatchObject({ phase: 'allocated', requestId: `${k}.gpu-2` });
    await finish(k);
  });

  it('refuses a GPU kernel clearly when the scheduler says no', async () => {
    const gpu = new FakeGpuScheduler([]);
    gpu.requestGpu = async () => {
      // What the real activity turns the scheduler's 4xx quota answer into (see gpu-scheduler-activities.spec).
      throw ApplicationFailure.nonRetryable('org has 0 H100s left', 'gpu.quota_exceeded');
    };
    fleet.gpuScheduler = gpu;
    const k = `k-gpu-refused-${run}`;
    const err = (await ensure(k).then(
      () => null,
      (e: unknown) => e as Error & { cause?: Error },
    ))!;
    expect(err).not.toBeNull();
    expect(err.cause?.message).toMatch(/No GPU for this kernel: org has 0 H100s left/);
    const st = await stateOf(client, k);
    expect(st.state).toBe('ABSENT');
    expect(fleet.allocations.some((x) => x.kernelId === k)).toBe(false);
    await finish(k);
  });
});
