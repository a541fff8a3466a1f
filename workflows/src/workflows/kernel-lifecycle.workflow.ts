import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import {
  KERNEL_LIFECYCLE,
  lifecyclePolicyOf,
  type ActivitySignal,
  type EnsureRunningRequest,
  type EnsureRunningResult,
  type HostEventSignal,
  type KernelLifecycleInput,
  type KernelState,
  type LifecyclePolicy,
  type LifecycleGpuStatus,
  type LifecycleSnapshot,
} from '@quire/contracts';
import type {
  AllocateResult,
  GpuAnswer,
  GpuRelease,
  KernelRef,
  LifecycleActivities,
  LifecycleEvent,
  PlaceResult,
} from './lifecycle-activities';

export const ensureRunningUpdate = defineUpdate<EnsureRunningResult, [EnsureRunningRequest]>(
  KERNEL_LIFECYCLE.ensureRunningUpdate,
);
export const activitySignal = defineSignal<[ActivitySignal]>(KERNEL_LIFECYCLE.activitySignal);
export const hostEventSignal = defineSignal<[HostEventSignal]>(KERNEL_LIFECYCLE.hostEventSignal);
export const terminateSignal = defineSignal<[{ reason: string }?]>(KERNEL_LIFECYCLE.terminateSignal);
export const stateQuery = defineQuery<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);

/** Host calls: short retries (a dead host is the workflow's business, not the retry policy's). */
const host = proxyActivities<LifecycleActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '10 seconds',
  retry: {
    initialInterval: '500 ms',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    maximumAttempts: 6,
  },
});
const quick = proxyActivities<Pick<LifecycleActivities, 'placeKernel' | 'deleteSnapshots'>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 ms', maximumInterval: '10 seconds', maximumAttempts: 20 },
});
/** The gpu-scheduler: quick calls; its own refusals (quota, unknown type) are not retried. */
const gpuCalls = proxyActivities<Pick<LifecycleActivities, 'requestGpu' | 'releaseGpu'>>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '500 ms',
    maximumInterval: '10 seconds',
    maximumAttempts: 20,
    nonRetryableErrorTypes: [
      'gpu.unknown_type',
      'gpu.profile_not_offered',
      'gpu.quota_exceeded',
      'validation.failed',
    ],
  },
});
/** Lifecycle events are never dropped: while Kafka is down the workflow waits. */
const events = proxyActivities<Pick<LifecycleActivities, 'publishLifecycle'>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 ms', maximumInterval: '30 seconds' },
});

/** An activity that failed for good (its retries spent): the workflow decides what that means. */
async function tryActivity<T>(
  fn: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: string; type: string | null }> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (err instanceof ActivityFailure) {
      const cause = err.cause;
      return {
        ok: false,
        error: cause?.message ?? err.message,
        type: cause instanceof ApplicationFailure ? (cause.type ?? null) : null,
      };
    }
    throw err;
  }
}

/** How long a start may queue for capacity before the user is told no. */
const MAX_QUEUE_MS = 10 * 60_000;
/** How long a start may wait for a GPU before the user is told no (the pool is shared; ETAs are minutes). */
const MAX_GPU_QUEUE_MS = 30 * 60_000;
/** How long a kernel whose GPU is allocated waits for that GPU's host to have room. */
const GPU_HOST_WAIT_MS = 60_000;
const RECENT_EVENT_IDS = 500;
const HISTORY_KEPT = 50;

/** Everything the workflow knows, carried across continue-as-new. */
interface Carried {
  state: KernelState;
  hostId: string | null;
  apiUrl: string | null;
  lastSnapshot: { snapshotId: string; bytes: number; at: string } | null;
  lastDeath: { reason: string; message: string; at: string } | null;
  history: LifecycleSnapshot['history'];
  lastActivityAt: number;
  enteredAt: number;
  lastBackgroundSnapshotAt: number;
  activitySinceSnapshot: boolean;
  /** A cell is executing (ExecuteStarted without its ExecuteCompleted yet). */
  cellRunning?: boolean;
  recentEventIds: string[];
  generation: number;
  /** GPU kernels: scheduler requests made so far (the next requestId's counter). */
  gpuStarts?: number;
  /** GPU kernels: this life's scheduler request. */
  gpu?: CarriedGpu | null;
  /** GPU kernels: the last hibernation did not keep GPU memory (no cuda-checkpoint on that host). */
  gpuMemoryLost?: boolean;
}

interface CarriedGpu {
  requestId: string;
  phase: GpuAnswer['phase'];
  allocation: LifecycleGpuStatus['allocation'];
  cudaCheckpoint: boolean | null;
}

interface Pending {
  id: number;
  req: EnsureRunningRequest;
  at: number;
}

type Answer = { ok: true; result: EnsureRunningResult } | { ok: false; message: string };

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A UUIDv7 from workflow time and the workflow's deterministic randomness (same on replay). */
function eventId(): string {
  const hex = Date.now().toString(16).padStart(12, '0');
  const r = uuid4().replace(/-/g, '');
  const variant = ((parseInt(r[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${r.slice(13, 16)}-${variant}${r.slice(17, 20)}-${r.slice(20, 32)}`;
}

function formatGiB(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * One notebook kernel's life: ABSENT → PROVISION (warm pool) / COLD_BOOT →
 * RUNNING ⇄ IDLE → HIBERNATED → RESTORE → RUNNING … → EVICTED → fresh.
 *
 * A single loop owns every transition; signals and the ensureRunning update
 * only record facts and wishes, so no two transitions ever race. Timers are
 * Temporal timers (condition with a timeout), recomputed from the carried
 * timestamps, so they survive worker and server restarts and reset on
 * activity. The tier's policy is data (TIER_POLICIES), overridable per kernel.
 */
export async function kernelLifecycle(input: KernelLifecycleInput): Promise<LifecycleSnapshot> {
  const policy: LifecyclePolicy = lifecyclePolicyOf(input.tier, input.policy);
  // Changes to running workflows go through patched(): histories recorded before them replay unchanged.
  const pauseBackgroundDuringCells = patched('pause-background-snapshot-during-cells');
  // Only kernels that ask for a GPU reach the patch (histories without `gpu` never see its marker).
  const gpuWanted = input.gpu !== undefined && patched('gpu-scheduler-allocation');
  const labels = input.labels ?? {};
  const memoryBytes = input.limits?.memoryBytes ?? policy.memoryBytes;
  const now0 = Date.now();
  const s: Carried = (input.carried as Carried | undefined) ?? {
    state: 'ABSENT',
    hostId: null,
    apiUrl: null,
    lastSnapshot: null,
    lastDeath: null,
    history: [],
    lastActivityAt: now0,
    enteredAt: now0,
    lastBackgroundSnapshotAt: now0,
    activitySinceSnapshot: false,
    recentEventIds: [],
    generation: 0,
  };
  const seen = new Set(s.recentEventIds);
  const hostEvents: HostEventSignal[] = [];
  const pending: Pending[] = [];
  const answers = new Map<number, Answer>();
  let nextTicket = 1;
  let terminateRequested: string | null = null;
  let queued: LifecycleSnapshot['queued'] = null;
  let gpuWait: { position: number | null; etaS: number | null; since: string } | null = null;
  let busy = false;

  /** At-least-once signals (Kafka redelivery, bridge restarts) apply once. */
  function firstTime(id: string): boolean {
    if (seen.has(id)) return false;
    seen.add(id);
    s.recentEventIds.push(id);
    if (s.recentEventIds.length > RECENT_EVENT_IDS) seen.delete(s.recentEventIds.shift()!);
    return true;
  }

  interface Timers {
    idleAt: number | null;
    hibernateAt: number | null;
    evictAt: number | null;
    backgroundSnapshotAt: number | null;
  }
  const timers = (): Timers => {
    const t: Timers = {
      idleAt: null,
      hibernateAt: null,
      evictAt: null,
      backgroundSnapshotAt: null,
    };
    if (s.state === 'RUNNING') {
      if (policy.idleAfterMs !== null) t.idleAt = s.lastActivityAt + policy.idleAfterMs;
      else if (policy.hibernateAfterMs !== null) t.hibernateAt = s.lastActivityAt + policy.hibernateAfterMs;
      // A background snapshot freezes the kernel for a moment: not while a cell runs.
      const cellRunning = pauseBackgroundDuringCells && s.cellRunning === true;
      if (policy.backgroundSnapshotEveryMs !== null && s.activitySinceSnapshot && !cellRunning)
        t.backgroundSnapshotAt = s.lastBackgroundSnapshotAt + policy.backgroundSnapshotEveryMs;
    } else if (s.state === 'IDLE' && policy.hibernateAfterMs !== null) {
      t.hibernateAt = s.enteredAt + policy.hibernateAfterMs;
    } else if (s.state === 'HIBERNATED' && policy.evictAfterMs !== null) {
      t.evictAt = s.enteredAt + policy.evictAfterMs;
    }
    return t;
  };
  const nextDeadline = (): number | null => {
    const all = Object.values(timers()).filter((x): x is number => x !== null);
    return all.length ? Math.min(...all) : null;
  };

  setHandler(activitySignal, (sig) => {
    if (!firstTime(sig.eventId)) return;
    s.lastActivityAt = Date.now();
    s.activitySinceSnapshot = true;
    if (sig.kind === 'execute-started') s.cellRunning = true;
    else if (sig.kind === 'execute-completed') s.cellRunning = false;
  });
  setHandler(hostEventSignal, (sig) => {
    if (firstTime(sig.eventId)) hostEvents.push(sig);
  });
  setHandler(terminateSignal, (arg) => {
    terminateRequested = arg?.reason ?? 'terminated';
  });
  setHandler(stateQuery, () => snapshotNow());
  setHandler(
    ensureRunningUpdate,
    async (req) => {
      const id = nextTicket++;
      pending.push({ id, req, at: Date.now() });
      s.lastActivityAt = Date.now();
      await condition(() => answers.has(id));
      const answer = answers.get(id)!;
      answers.delete(id);
      if (!answer.ok) throw ApplicationFailure.nonRetryable(answer.message, 'KernelUnavailable');
      return answer.result;
    },
    {
      validator: (req) => {
        if (terminateRequested !== null) throw new Error('this kernel is being terminated');
        if (!req || typeof req.userId !== 'string' || !req.userId) throw new Error('userId is required');
      },
    },
  );

  async function publish(event: LifecycleEvent): Promise<void> {
    await events.publishLifecycle({
      eventId: eventId(),
      time: iso(Date.now()),
      kernelId: input.kernelId,
      notebookId: input.notebookId,
      tenant: input.tenant,
      tier: input.tier,
      event,
    });
  }

  async function moveTo(to: KernelState, reason: string): Promise<void> {
    const from = s.state;
    s.state = to;
    s.enteredAt = Date.now();
    s.history.push({ from, to, reason, at: iso(s.enteredAt) });
    if (s.history.length > HISTORY_KEPT) s.history.splice(0, s.history.length - HISTORY_KEPT);
    await publish({ type: 'KernelStateChanged', from, to, reason, hostId: s.hostId });
  }

  async function die(
    reason: 'oom' | 'crash' | 'host_lost' | 'killed' | 'runtime_cap' | 'snapshot_too_big',
    message: string,
    figures: { peakMemoryBytes?: number; memoryLimitBytes?: number } = {},
  ): Promise<void> {
    s.lastDeath = { reason, message, at: iso(Date.now()) };
    await releaseGpu('died', message);
    if (s.state !== 'DEAD') await moveTo('DEAD', reason);
    s.hostId = null;
    s.apiUrl = null;
    await publish({ type: 'KernelDied', reason, message, ...figures });
  }

  const ref = (): KernelRef => ({ kernelId: input.kernelId, hostId: s.hostId!, apiUrl: s.apiUrl! });

  type GpuGrant =
    | { ok: true; allocation: NonNullable<LifecycleGpuStatus['allocation']> | null }
    | { ok: false; error: string };

  /**
   * GPU kernels: a device from the gpu-scheduler before placement. Idempotent
   * by requestId (kernelId + start counter), polled with Temporal timers while
   * queued; position and ETA show in the state query. No GPU asked: nothing.
   */
  async function acquireGpu(userId: string): Promise<GpuGrant> {
    if (!gpuWanted || !input.gpu) return { ok: true, allocation: null };
    if (s.gpu?.phase === 'allocated' && s.gpu.allocation) return { ok: true, allocation: s.gpu.allocation };
    if (s.gpu?.phase === 'cpu_fallback') return { ok: true, allocation: null };
    s.gpuStarts = (s.gpuStarts ?? 0) + 1;
    const requestId = `${input.kernelId.slice(0, 110)}.gpu-${s.gpuStarts}`;
    const t0 = Date.now();
    for (;;) {
      const attempt = await tryActivity(() =>
        gpuCalls.requestGpu({
          requestId,
          kernelId: input.kernelId,
          tenant: input.tenant,
          userId,
          gpuType: input.gpu!.gpuType,
          profile: input.gpu!.profile,
          allowCpuFallback: input.gpu!.allowCpuFallback === true,
          ...(policy.hibernateAfterMs !== null ? { idleHibernateAfterMs: policy.hibernateAfterMs } : {}),
        }),
      );
      if (!attempt.ok) {
        gpuWait = null;
        s.gpu = { requestId, phase: 'rejected', allocation: null, cudaCheckpoint: null };
        return { ok: false, error: `No GPU for this kernel: ${attempt.error}` };
      }
      const a = attempt.value;
      const allocation = a.allocation
        ? {
            hostId: a.allocation.hostId,
            device: a.allocation.device,
            slice: a.allocation.slice,
            visibleDevice: a.allocation.visibleDevice,
          }
        : null;
      s.gpu = { requestId, phase: a.phase, allocation, cudaCheckpoint: allocation ? a.cudaCheckpoint : null };
      if (a.phase === 'allocated' && allocation) {
        gpuWait = null;
        return { ok: true, allocation };
      }
      if (a.phase === 'cpu_fallback') {
        gpuWait = null;
        return { ok: true, allocation: null };
      }
      if (a.phase !== 'queued') {
        gpuWait = null;
        return { ok: false, error: `No GPU for this kernel: ${a.reason ?? a.phase}` };
      }
      gpuWait = { position: a.position, etaS: a.etaS, since: iso(t0) };
      if (Date.now() - t0 > MAX_GPU_QUEUE_MS) {
        await releaseGpu('terminated', 'gave up waiting in the GPU queue');
        gpuWait = null;
        return {
          ok: false,
          error: `No ${input.gpu.gpuType} (${input.gpu.profile}) became free within ${MAX_GPU_QUEUE_MS / 60_000} min.`,
        };
      }
      // Poll sooner when the ETA is near; never more often than every 2 s nor less than every 15 s.
      await sleep(Math.min(Math.max((a.etaS ?? 10) / 2, 2), 15) * 1000);
    }
  }

  /** Gives the GPU back (or leaves the queue); a no-op when nothing is held. */
  async function releaseGpu(reason: GpuRelease['reason'], detail: string): Promise<void> {
    if (!gpuWanted || !s.gpu || (s.gpu.phase !== 'allocated' && s.gpu.phase !== 'queued')) return;
    const requestId = s.gpu.requestId;
    await tryActivity(() => gpuCalls.releaseGpu({ requestId, reason, detail: detail.slice(0, 500) }));
    s.gpu = { ...s.gpu, phase: 'released' };
  }

  /** Placement with admission control: queue with the ETA the placer gives, up to MAX_QUEUE_MS. */
  async function place(
    creation: boolean,
    preferHost: string | null,
    excludeHosts: string[],
    requireHost: string | null = null,
  ): Promise<{ hostId: string; apiUrl: string; queuedMs: number } | { error: string }> {
    const t0 = Date.now();
    for (;;) {
      const attempt = await tryActivity(() =>
        quick.placeKernel({
          kernelId: input.kernelId,
          tenant: input.tenant,
          tier: input.tier,
          labels,
          memoryBytes,
          excludeHosts,
          preferHost,
          creation,
          creationsPerMinute: policy.creationsPerTenantPerMinute,
          ...(requireHost !== null ? { requireHost } : {}),
        }),
      );
      if (!attempt.ok) {
        queued = null;
        return { error: `placement failed: ${attempt.error}` };
      }
      const r: PlaceResult = attempt.value;
      if (r.placed) {
        queued = null;
        return { hostId: r.hostId, apiUrl: r.apiUrl, queuedMs: Date.now() - t0 };
      }
      // A held GPU is billed: its host gets a minute to take the kernel, not ten.
      if (Date.now() - t0 > (requireHost !== null ? GPU_HOST_WAIT_MS : MAX_QUEUE_MS)) {
        queued = null;
        return { error: `No capacity for this kernel: ${r.reason}` };
      }
      queued = { reason: r.reason, etaS: r.etaS, since: iso(t0) };
      await sleep(Math.min(Math.max(r.etaS, 1), 30) * 1000);
    }
  }

  /** A new kernel (nothing to restore). */
  async function startFresh(
    userId: string,
    excludeHosts: string[] = [],
  ): Promise<{ via: 'warm-pool' | 'cold-boot'; queuedMs: number } | { error: string }> {
    const tried = [...excludeHosts];
    let a: AllocateResult | null = null;
    let queuedMs = 0;
    let lastError = '';
    const grant = await acquireGpu(userId);
    if (!grant.ok) return { error: grant.error };
    const gpu = grant.allocation;
    // A host that fails to start the kernel is skipped once; then the user is told.
    // A GPU kernel can only go to its GPU's host: one try.
    for (let i = 0; i < (gpu ? 1 : 2) && a === null; i++) {
      const where = await place(true, null, tried, gpu?.hostId ?? null);
      if ('error' in where) {
        await releaseGpu('terminated', where.error);
        return where;
      }
      queuedMs += where.queuedMs;
      s.hostId = where.hostId;
      s.apiUrl = where.apiUrl;
      const r = await tryActivity(() =>
        host.allocateKernel({
          ...ref(),
          tenant: input.tenant,
          notebookId: input.notebookId,
          userId,
          memoryBytes,
          ...(input.limits?.cpus ? { cpus: input.limits.cpus } : {}),
          ...(gpu ? { gpu: { device: gpu.device, visibleDevice: gpu.visibleDevice } } : {}),
        }),
      );
      if (r.ok) a = r.value;
      else {
        lastError = r.error;
        tried.push(where.hostId);
        s.hostId = null;
        s.apiUrl = null;
      }
    }
    if (a === null) {
      await releaseGpu('died', `the kernel could not start: ${lastError}`);
      return { error: `the kernel could not start: ${lastError}` };
    }
    if (patched('fresh-kernel-drops-old-snapshot') && s.lastSnapshot) {
      // A snapshot of an earlier life must never be restored into this one (e.g. after a host loss).
      await tryActivity(() => quick.deleteSnapshots({ kernelId: input.kernelId, keep: null }));
      s.lastSnapshot = null;
    }
    await moveTo(a.fromWarmPool ? 'PROVISION' : 'COLD_BOOT', a.fromWarmPool ? 'warm-pool hit' : 'cold boot');
    s.lastActivityAt = Date.now();
    s.lastBackgroundSnapshotAt = Date.now();
    s.activitySinceSnapshot = false;
    await moveTo('RUNNING', 'started');
    return { via: a.fromWarmPool ? 'warm-pool' : 'cold-boot', queuedMs };
  }

  /** Restore from the last snapshot, on the preferred host or another. */
  async function restore(
    preferHost: string | null,
    excludeHosts: string[],
    userId: string = input.userId,
  ): Promise<{ ok: true; queuedMs: number } | { ok: false; message: string }> {
    const snap = s.lastSnapshot!;
    const grant = await acquireGpu(userId);
    if (!grant.ok) return { ok: false, message: grant.error };
    const gpuHost = grant.allocation?.hostId ?? null;
    const where = await place(false, gpuHost ?? preferHost, excludeHosts, gpuHost);
    if ('error' in where) {
      await releaseGpu('terminated', where.error);
      return { ok: false, message: where.error };
    }
    if (s.hostId && s.hostId !== where.hostId && !excludeHosts.includes(s.hostId)) {
      // The old host still remembers the hibernated kernel: make it forget, so only one host has it.
      await tryActivity(() => host.terminateKernel(ref()));
    }
    s.hostId = where.hostId;
    s.apiUrl = where.apiUrl;
    await moveTo('RESTORE', `restore ${snap.snapshotId} on ${where.hostId}`);
    const gpu = grant.allocation;
    const attempt = await tryActivity(() =>
      host.restoreKernel({
        ...ref(),
        snapshotId: snap.snapshotId,
        ...(gpu ? { gpu: { device: gpu.device, visibleDevice: gpu.visibleDevice } } : {}),
      }),
    );
    const r = attempt.ok ? attempt.value : { ok: false as const, message: attempt.error };
    if (!r.ok) return { ok: false, message: r.message };
    s.lastActivityAt = Date.now();
    s.lastBackgroundSnapshotAt = Date.now();
    s.activitySinceSnapshot = false;
    await moveTo('RUNNING', 'restored');
    return { ok: true, queuedMs: where.queuedMs };
  }

  /** Serves every waiting ensureRunning with one bring-up. */
  async function serveEnsureRunning(): Promise<void> {
    const batch = pending.splice(0, pending.length);
    const t0 = Math.min(...batch.map((p) => p.at));
    const userId = batch[0]!.req.userId;
    let via: EnsureRunningResult['via'] = 'already-running';
    let notice: string | null = null;
    let queuedMs = 0;
    let failure: string | null = null;
    if (s.state === 'IDLE') {
      await moveTo('RUNNING', 'activity');
    } else if (s.state === 'HIBERNATED') {
      const r = await restore(s.hostId, [], userId);
      if (r.ok) {
        via = 'restore';
        queuedMs = r.queuedMs;
        if (gpuWanted && s.gpuMemoryLost) {
          notice =
            'The kernel was restored from hibernation, but GPU memory was not kept (this host cannot checkpoint GPU memory): tensors and models that were on the GPU are gone. Rerun the cells that put them there.';
        }
        s.gpuMemoryLost = false;
      } else {
        // The image is gone (or no host can take it): a fresh kernel, and the user is told.
        const f = await startFresh(userId);
        if ('error' in f) failure = f.error;
        else {
          via = 'fresh-after-death';
          notice = `The hibernated kernel could not be restored (${r.message}). This is a fresh kernel: Run All to recompute your variables.`;
          queuedMs = f.queuedMs;
        }
      }
    } else if (s.state !== 'RUNNING') {
      const before = s.state;
      const f = await startFresh(userId);
      if ('error' in f) failure = f.error;
      else {
        queuedMs = f.queuedMs;
        via = f.via;
        if (before === 'EVICTED') {
          via = 'fresh-after-eviction';
          notice = `This is a fresh kernel: the previous one was hibernated for longer than the ${input.tier} tier keeps snapshots (${Math.round((policy.evictAfterMs ?? 0) / 3_600_000)} h) and was evicted. Run All to recompute your variables.`;
        } else if (before === 'DEAD' && s.lastDeath) {
          via = 'fresh-after-death';
          notice = `This is a fresh kernel: ${s.lastDeath.message} Run All to recompute your variables.`;
        }
      }
    }
    for (const p of batch) {
      answers.set(
        p.id,
        failure !== null
          ? { ok: false, message: failure }
          : {
              ok: true,
              result: {
                state: 'RUNNING',
                hostId: s.hostId!,
                hostApiUrl: s.apiUrl!,
                via,
                notice,
                ms: Date.now() - t0,
                ...(queuedMs > 0 ? { queuedMs } : {}),
              },
            },
      );
    }
  }

  async function hibernate(): Promise<void> {
    const attempt = await tryActivity(() => host.snapshotKernel(ref()));
    if (!attempt.ok) {
      if (attempt.type === 'KernelNotOnHost') {
        await die('crash', 'Kernel died (its sandbox is gone from the host).');
        return;
      }
      // The host could not snapshot now: try again after another hibernate period.
      s.enteredAt = Date.now();
      s.lastActivityAt = Date.now();
      return;
    }
    const r = attempt.value;
    if (!r.ok) {
      // Too big to snapshot: free the memory anyway; the volume stays, the user reruns on return.
      await tryActivity(() => host.terminateKernel(ref()));
      await die('snapshot_too_big', r.message);
      return;
    }
    s.lastSnapshot = { snapshotId: r.snapshotId, bytes: r.bytes, at: iso(Date.now()) };
    s.activitySinceSnapshot = false;
    if (gpuWanted && s.gpu?.phase === 'allocated') {
      s.gpuMemoryLost = s.gpu.cudaCheckpoint !== true;
      await releaseGpu('hibernated', `snapshot ${r.snapshotId}`);
    }
    await moveTo('HIBERNATED', 'idle');
    await tryActivity(() => quick.deleteSnapshots({ kernelId: input.kernelId, keep: r.snapshotId }));
  }

  async function backgroundSnapshot(): Promise<void> {
    const attempt = await tryActivity(() => host.checkpointKernel(ref()));
    s.lastBackgroundSnapshotAt = Date.now();
    s.activitySinceSnapshot = false;
    // Failed or too big: no background snapshot this time; hibernation will say what it must.
    if (!attempt.ok || !attempt.value.ok) return;
    const r = attempt.value;
    s.lastSnapshot = { snapshotId: r.snapshotId, bytes: r.bytes, at: iso(Date.now()) };
    await tryActivity(() => quick.deleteSnapshots({ kernelId: input.kernelId, keep: r.snapshotId }));
  }

  async function evict(): Promise<void> {
    const idleForS = Math.round((Date.now() - s.enteredAt) / 1000);
    const snapshotId = s.lastSnapshot?.snapshotId ?? null;
    if (s.hostId) await tryActivity(() => host.terminateKernel(ref()));
    await releaseGpu('terminated', 'evicted');
    await tryActivity(() => quick.deleteSnapshots({ kernelId: input.kernelId, keep: null }));
    s.lastSnapshot = null;
    await moveTo('EVICTED', 'snapshot expired');
    s.hostId = null;
    s.apiUrl = null;
    await publish({ type: 'KernelEvicted', snapshotId, idleForS });
  }

  async function onHostEvent(ev: HostEventSignal): Promise<void> {
    const here = s.hostId !== null && ev.hostId === s.hostId;
    if (ev.kind === 'snapshot-taken' && here && ev.snapshotId) {
      s.lastSnapshot = { snapshotId: ev.snapshotId, bytes: 0, at: iso(Date.now()) };
      await tryActivity(() =>
        quick.deleteSnapshots({ kernelId: input.kernelId, keep: ev.snapshotId ?? null }),
      );
      return;
    }
    if (ev.kind === 'sandbox-exited' && here && (s.state === 'RUNNING' || s.state === 'IDLE')) {
      const reason = (['oom', 'crash', 'killed', 'runtime_cap'] as const).find((r) => r === ev.reason);
      if (!reason) return; // 'shutdown' is our own terminate
      const message =
        reason === 'oom' && ev.peakMemoryBytes !== undefined && ev.memoryLimitBytes !== undefined
          ? `Kernel died (out of memory at ${formatGiB(ev.peakMemoryBytes)} / ${formatGiB(ev.memoryLimitBytes)}).`
          : `Kernel died (${reason}${ev.message ? `: ${ev.message}` : ''}).`;
      await die(reason, message, {
        ...(ev.peakMemoryBytes !== undefined ? { peakMemoryBytes: ev.peakMemoryBytes } : {}),
        ...(ev.memoryLimitBytes !== undefined ? { memoryLimitBytes: ev.memoryLimitBytes } : {}),
      });
      return;
    }
    if (ev.kind === 'host-lost' && here) {
      if (s.state === 'HIBERNATED') {
        // The image is in object storage: the next restore goes to another host.
        s.hostId = null;
        s.apiUrl = null;
        return;
      }
      if (s.state !== 'RUNNING' && s.state !== 'IDLE') return;
      const lost = ev.hostId;
      await releaseGpu('died', `host ${lost} lost`);
      if (s.lastSnapshot) {
        const at = s.lastSnapshot.at;
        s.hostId = null;
        s.apiUrl = null;
        s.lastDeath = {
          reason: 'host_lost',
          message: `Host ${lost} was lost; the kernel was restored on another host from its snapshot of ${at} (later changes to variables are gone).`,
          at: iso(Date.now()),
        };
        // DEAD for the moment it takes to restore elsewhere (ARCHITECTURE: host lost → DEAD → restore).
        await moveTo('DEAD', 'host_lost');
        const r = await restore(null, [lost]);
        if (r.ok) return;
      }
      await die(
        'host_lost',
        `Kernel died (host ${lost} stopped responding${s.lastSnapshot ? ' and the snapshot could not be restored' : ', and there was no snapshot to restore'}).`,
      );
    }
  }

  async function shutDown(reason: string): Promise<void> {
    if (s.hostId && s.state !== 'DEAD' && s.state !== 'EVICTED')
      await tryActivity(() => host.terminateKernel(ref()));
    await releaseGpu('terminated', reason);
    await tryActivity(() => quick.deleteSnapshots({ kernelId: input.kernelId, keep: null }));
    s.lastSnapshot = null;
    await moveTo('ABSENT', reason);
    s.hostId = null;
    s.apiUrl = null;
  }

  if (s.generation === 0 && s.history.length === 0)
    await publish({ type: 'KernelRequested', userId: input.userId });

  for (;;) {
    if (terminateRequested !== null) {
      await shutDown(terminateRequested);
      for (const p of pending.splice(0))
        answers.set(p.id, { ok: false, message: 'the kernel was terminated' });
      await condition(allHandlersFinished);
      return snapshotNow();
    }
    if (hostEvents.length > 0) {
      busy = true;
      await onHostEvent(hostEvents.shift()!);
      busy = false;
      continue;
    }
    if (pending.length > 0) {
      busy = true;
      await serveEnsureRunning();
      busy = false;
      continue;
    }
    // An activity signal while IDLE wakes the kernel (it is still in memory).
    if (s.state === 'IDLE' && s.lastActivityAt > s.enteredAt) {
      await moveTo('RUNNING', 'activity');
      continue;
    }
    const deadline = nextDeadline();
    if (deadline !== null && Date.now() >= deadline) {
      const t = timers();
      const now = Date.now();
      if (t.backgroundSnapshotAt !== null && now >= t.backgroundSnapshotAt) await backgroundSnapshot();
      else if (t.idleAt !== null && now >= t.idleAt) await moveTo('IDLE', 'no activity');
      else if (t.hibernateAt !== null && now >= t.hibernateAt) await hibernate();
      else if (t.evictAt !== null && now >= t.evictAt) await evict();
      continue;
    }
    // Bounded history: a kernel that lives for months continues as new between transitions.
    const info = workflowInfo();
    if (
      (info.historyLength > policy.maxHistoryEvents || info.continueAsNewSuggested) &&
      pending.length === 0 &&
      !busy
    ) {
      await condition(allHandlersFinished);
      if (pending.length === 0 && hostEvents.length === 0) {
        s.generation += 1;
        s.recentEventIds = [...seen];
        await continueAsNew<typeof kernelLifecycle>({ ...input, carried: s });
      }
    }
    const before = s.lastActivityAt;
    const state = s.state;
    const wake = () =>
      terminateRequested !== null ||
      hostEvents.length > 0 ||
      pending.length > 0 ||
      s.lastActivityAt !== before ||
      s.state !== state;
    if (deadline === null) await condition(wake);
    else await condition(wake, Math.max(1, deadline - Date.now()));
  }

  function snapshotNow(): LifecycleSnapshot {
    const t = timers();
    return {
      kernelId: input.kernelId,
      notebookId: input.notebookId,
      tier: input.tier,
      state: s.state,
      hostId: s.hostId,
      hostApiUrl: s.apiUrl,
      lastSnapshot: s.lastSnapshot,
      timers: {
        idleAt: t.idleAt === null ? null : iso(t.idleAt),
        hibernateAt: t.hibernateAt === null ? null : iso(t.hibernateAt),
        evictAt: t.evictAt === null ? null : iso(t.evictAt),
        backgroundSnapshotAt: t.backgroundSnapshotAt === null ? null : iso(t.backgroundSnapshotAt),
      },
      lastDeath: s.lastDeath,
      history: s.history,
      queued,
      policy,
      generation: s.generation,
      ...(input.gpu ? { gpu: gpuStatus(input.gpu) } : {}),
    };
  }

  function gpuStatus(want: NonNullable<KernelLifecycleInput['gpu']>): LifecycleGpuStatus {
    const g = s.gpu ?? null;
    return {
      gpuType: want.gpuType,
      profile: want.profile,
      requestId: g?.requestId ?? null,
      phase: g?.phase ?? 'none',
      position: g?.phase === 'queued' ? (gpuWait?.position ?? null) : null,
      etaS: g?.phase === 'queued' ? (gpuWait?.etaS ?? null) : null,
      queuedSince: g?.phase === 'queued' ? (gpuWait?.since ?? null) : null,
      allocation: g?.phase === 'allocated' ? g.allocation : null,
      cudaCheckpoint: g?.phase === 'allocated' ? g.cudaCheckpoint : null,
    };
  }
}
