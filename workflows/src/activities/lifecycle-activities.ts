import { ApplicationFailure, Context } from '@temporalio/activity';
import { KernelDied, KernelEvicted, KernelRequested, KernelStateChanged } from '@quire/contracts';
import type { EventProducer } from '@quire/contracts/kafka';
import type {
  AllocateRequest,
  AllocateResult,
  KernelRef,
  LifecycleActivities,
  PlaceRequest,
  PlaceResult,
  PublishRequest,
  RestoreRequest,
  RestoreResult,
  SnapshotResult,
  WarmPoolPlanEntry,
} from '../workflows/lifecycle-activities';
import { GpuSchedulerClient, GpuSchedulerError } from './gpu-scheduler-client';
import { HostApiClient, HostApiError, HostUnreachableError } from './host-api-client';
import type { SnapshotJanitor } from './snapshot-janitor';

export interface LifecycleActivityDeps {
  events: EventProducer;
  snapshots: SnapshotJanitor;
  place(req: PlaceRequest): PlaceResult | Promise<PlaceResult>;
  /** Placement learns of a kernel's host before the host's own event arrives. */
  placed?(kernelId: string, hostId: string): void;
  /** How long a retried activity watches a kernel the previous attempt may still be working on. */
  settleMs?: number;
  /** Warm pool autoscaling: the plan from the host registry. */
  warmPoolPlan?(): WarmPoolPlanEntry[];
  /** The gpu-scheduler (QUIRE_GPU_SCHEDULER_URL); unset: GPU kernels are refused with a clear error. */
  gpuScheduler?: GpuSchedulerClient;
  /** Whether `cuda-checkpoint` works for this GPU on this host (the host's heartbeat says). */
  gpuCheckpoint?(hostId: string, device: string): boolean;
}

/** The scheduler's refusals that no retry changes. */
const GPU_REFUSALS = new Set([
  'gpu.unknown_type',
  'gpu.profile_not_offered',
  'gpu.quota_exceeded',
  'validation.failed',
]);

function gpuFailure(err: unknown): never {
  if (err instanceof Error && err.name === 'ZodError')
    throw ApplicationFailure.nonRetryable(`invalid GPU request: ${err.message}`, 'validation.failed');
  if (err instanceof GpuSchedulerError && (GPU_REFUSALS.has(err.code) || err.status === 400))
    throw ApplicationFailure.nonRetryable(
      err.message,
      GPU_REFUSALS.has(err.code) ? err.code : 'validation.failed',
    );
  throw err;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Heartbeats while a long host call runs, so a dead worker is noticed in seconds, not minutes. */
async function withHeartbeat<T>(work: Promise<T>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    ctx = undefined; // called outside an activity (unit tests)
  }
  if (!ctx) return work;
  const c = ctx;
  c.heartbeat();
  const timer = setInterval(() => c.heartbeat(), 2000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

function attempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/**
 * The lifecycle's host-side effects. Each one is idempotent by the workflow's
 * deterministic kernelId: before acting, an activity looks at what the host
 * already has, so a retry after a worker crash finishes the job of the attempt
 * that died instead of doing it twice.
 */
export function createLifecycleActivities(deps: LifecycleActivityDeps): LifecycleActivities {
  const settleMs = deps.settleMs ?? 30_000;

  /** Waits while the host says the kernel is mid-transition (a previous attempt still working). */
  async function settled(client: HostApiClient, kernelId: string) {
    const end = Date.now() + settleMs;
    let k = await client.find(kernelId);
    while (k && k.state === 'starting' && Date.now() < end) {
      await sleep(250);
      k = await client.find(kernelId);
    }
    return k;
  }

  const gpuScheduler = (): GpuSchedulerClient => {
    if (!deps.gpuScheduler)
      throw ApplicationFailure.nonRetryable(
        'GPU kernels need the gpu-scheduler: QUIRE_GPU_SCHEDULER_URL is not set on the workflows worker',
        'gpu.scheduler_not_configured',
      );
    return deps.gpuScheduler;
  };

  return {
    async requestGpu(req) {
      const state = await gpuScheduler()
        .request({
          requestId: req.requestId,
          kernelId: req.kernelId,
          tenant: req.tenant,
          userId: req.userId,
          gpuType: req.gpuType,
          profile: req.profile,
          allowCpuFallback: req.allowCpuFallback,
          ...(req.idleHibernateAfterMs !== undefined
            ? { idleHibernateAfterMs: req.idleHibernateAfterMs }
            : {}),
        })
        .catch(gpuFailure);
      const a = state.allocation;
      return { ...state, cudaCheckpoint: a ? (deps.gpuCheckpoint?.(a.hostId, a.device) ?? false) : false };
    },

    async releaseGpu(req) {
      const { requestId, ...body } = req;
      return gpuScheduler().release(requestId, body).catch(gpuFailure);
    },

    async placeKernel(req) {
      return deps.place(req);
    },

    async allocateKernel(req: AllocateRequest): Promise<AllocateResult> {
      const client = new HostApiClient(req.apiUrl);
      return withHeartbeat(
        (async () => {
          let k = await settled(client, req.kernelId);
          if (k?.state === 'running')
            return { fromWarmPool: false, bootMs: 0, sandboxId: k.sandboxId, alreadyRunning: true };
          // A hibernated or exited record of an earlier life: the host forgets it, then we start anew.
          if (k) await client.terminate(req.kernelId).catch(() => undefined);
          try {
            const r = await client.start({
              kernelId: req.kernelId,
              tenant: req.tenant,
              notebookId: req.notebookId,
              userId: req.userId,
              limits: { memoryBytes: req.memoryBytes, ...(req.cpus ? { cpus: req.cpus } : {}) },
              // A warm sandbox has no GPU: GPU kernels boot with only their device visible.
              warmPool: req.gpu === undefined,
              ...(req.gpu ? { gpu: req.gpu } : {}),
            });
            deps.placed?.(req.kernelId, req.hostId);
            return { ...r, alreadyRunning: false };
          } catch (err) {
            if (err instanceof HostApiError && err.code === 'kernel.exists') {
              k = await settled(client, req.kernelId);
              if (k?.state === 'running')
                return { fromWarmPool: false, bootMs: 0, sandboxId: k.sandboxId, alreadyRunning: true };
            }
            throw err;
          }
        })(),
      );
    },

    async snapshotKernel(ref: KernelRef): Promise<SnapshotResult> {
      const client = new HostApiClient(ref.apiUrl);
      return withHeartbeat(
        (async () => {
          let k = await settled(client, ref.kernelId);
          if (attempt() > 1 && k?.state === 'running') {
            // The attempt that died may still be checkpointing on the host: give it time to land.
            const end = Date.now() + Math.min(settleMs, 10_000);
            while (k?.state === 'running' && Date.now() < end) {
              await sleep(500);
              k = await client.find(ref.kernelId);
            }
          }
          if (!k)
            throw ApplicationFailure.nonRetryable(
              `kernel ${ref.kernelId} is not on ${ref.hostId}`,
              'KernelNotOnHost',
            );
          if (k.state === 'hibernated' && k.lastSnapshotId)
            return { ok: true, snapshotId: k.lastSnapshotId, bytes: 0, ms: 0, reused: true };
          try {
            const r = await client.snapshot(ref.kernelId);
            return { ok: true, snapshotId: r.snapshotId, bytes: r.bytes, ms: r.ms, reused: false };
          } catch (err) {
            if (err instanceof HostApiError && err.code === 'kernel.snapshot_too_big')
              return {
                ok: false,
                tooBig: true,
                message: err.message.replace(/^.*kernel\.snapshot_too_big: /, ''),
              };
            throw err;
          }
        })(),
      );
    },

    async checkpointKernel(ref: KernelRef): Promise<SnapshotResult> {
      const client = new HostApiClient(ref.apiUrl);
      return withHeartbeat(
        (async () => {
          const k = await settled(client, ref.kernelId);
          if (!k)
            throw ApplicationFailure.nonRetryable(
              `kernel ${ref.kernelId} is not on ${ref.hostId}`,
              'KernelNotOnHost',
            );
          let snapshotId = k.lastSnapshotId;
          let bytes = 0;
          let ms = 0;
          if (k.state !== 'hibernated' || !snapshotId) {
            try {
              const r = await client.snapshot(ref.kernelId);
              snapshotId = r.snapshotId;
              bytes = r.bytes;
              ms = r.ms;
            } catch (err) {
              if (err instanceof HostApiError && err.code === 'kernel.snapshot_too_big')
                return { ok: false, tooBig: true, message: err.message };
              throw err;
            }
          }
          // Back to work on the same host: a background snapshot must not stop the kernel.
          await client.restore(ref.kernelId, snapshotId).catch((err: unknown) => {
            if (!(err instanceof HostApiError && err.code === 'kernel.running')) throw err;
          });
          return { ok: true, snapshotId, bytes, ms, reused: bytes === 0 };
        })(),
      );
    },

    async restoreKernel(req: RestoreRequest): Promise<RestoreResult> {
      const client = new HostApiClient(req.apiUrl);
      return withHeartbeat(
        (async () => {
          try {
            const k = await settled(client, req.kernelId);
            if (k?.state === 'running')
              return { ok: true, totalMs: 0, downloadMs: 0, sandboxId: k.sandboxId, alreadyRunning: true };
            const r = await client.restore(req.kernelId, req.snapshotId, req.gpu);
            deps.placed?.(req.kernelId, req.hostId);
            return { ok: true, ...r, alreadyRunning: false };
          } catch (err) {
            if (err instanceof HostApiError && err.code === 'kernel.running') {
              const k = await client.find(req.kernelId);
              return {
                ok: true,
                totalMs: 0,
                downloadMs: 0,
                sandboxId: k?.sandboxId ?? '',
                alreadyRunning: true,
              };
            }
            if (
              err instanceof HostApiError &&
              (err.code === 'snapshot.not_found' || err.code === 'snapshot.wrong_kernel')
            )
              return { ok: false, reason: 'snapshot_missing', message: err.message };
            if (err instanceof HostUnreachableError && attempt() >= 4)
              return { ok: false, reason: 'host_unreachable', message: err.message };
            throw err;
          }
        })(),
      );
    },

    async terminateKernel(ref: KernelRef): Promise<void> {
      const client = new HostApiClient(ref.apiUrl);
      await withHeartbeat(
        (async () => {
          try {
            await settled(client, ref.kernelId);
            await client.terminate(ref.kernelId);
          } catch (err) {
            if (err instanceof HostApiError && err.status === 404) return; // already gone
            // A host that stays unreachable is lost: its sandboxes went with it (the host
            // worker also kills unknown sandboxes when it comes back).
            if (err instanceof HostUnreachableError && attempt() >= 4) return;
            throw err;
          }
        })(),
      );
    },

    async warmPoolPlan() {
      return deps.warmPoolPlan?.() ?? [];
    },

    async setWarmPoolTarget(req) {
      await new HostApiClient(req.apiUrl, 30_000).setWarmPoolTarget(req.target);
    },

    async deleteSnapshots(req) {
      return { deleted: await deps.snapshots.deleteAllBut(req.kernelId, req.keep) };
    },

    async publishLifecycle(req: PublishRequest): Promise<void> {
      const common = {
        id: req.eventId,
        time: new Date(req.time),
        subject: req.kernelId,
        tenant: req.tenant,
      };
      const e = req.event;
      const base = { kernelId: req.kernelId, notebookId: req.notebookId };
      switch (e.type) {
        case 'KernelRequested':
          await deps.events.publish(KernelRequested, {
            ...common,
            data: { ...base, userId: e.userId, tier: req.tier, gpuProfile: null },
          });
          return;
        case 'KernelStateChanged':
          await deps.events.publish(KernelStateChanged, {
            ...common,
            data: {
              ...base,
              from: e.from,
              to: e.to,
              reason: e.reason.slice(0, 500),
              hostId: e.hostId,
              tier: req.tier,
            },
          });
          return;
        case 'KernelEvicted':
          await deps.events.publish(KernelEvicted, {
            ...common,
            data: { ...base, snapshotId: e.snapshotId, idleForS: e.idleForS },
          });
          return;
        case 'KernelDied':
          await deps.events.publish(KernelDied, {
            ...common,
            data: {
              ...base,
              reason: e.reason,
              message: e.message.slice(0, 2000),
              cellId: null,
              ...(e.peakMemoryBytes !== undefined ? { peakMemoryBytes: e.peakMemoryBytes } : {}),
              ...(e.memoryLimitBytes !== undefined ? { memoryLimitBytes: e.memoryLimitBytes } : {}),
            },
          });
          return;
      }
    },
  };
}
