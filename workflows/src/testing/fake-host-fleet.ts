import type { FakeGpuScheduler } from './fake-gpu-scheduler';
import type {
  AllocateRequest,
  KernelRef,
  LifecycleActivities,
  RestoreRequest,
  PlaceRequest,
  PublishRequest,
  WarmPoolPlanEntry,
} from '../workflows/lifecycle-activities';

/**
 * An in-memory fleet of host workers behind the lifecycle's activity
 * interface: for workflow tests with mocked activities and for the lifecycle
 * benchmark (fake host activities). It keeps the invariants the real
 * activities keep (one sandbox per kernel, idempotent retries) and counts
 * every call, so tests can assert on them.
 */
export interface FakeKernel {
  state: 'running' | 'hibernated';
  snapshotId: string | null;
}

export class FakeHostFleet {
  readonly hosts = new Map<string, { apiUrl: string; alive: boolean; kernels: Map<string, FakeKernel> }>();
  readonly snapshots = new Map<string, Set<string>>();
  readonly published: PublishRequest[] = [];
  readonly calls: { name: string; kernelId: string; hostId?: string }[] = [];
  /** Kernels whose snapshot is refused as too big. */
  readonly tooBig = new Set<string>();
  /** Number of placement answers that queue before one succeeds, per kernel. */
  readonly queueFor = new Map<string, number>();
  /** What the autoscaler's plan activity answers, and the targets it set. */
  warmPlan: WarmPoolPlanEntry[] = [];
  readonly warmTargets: { hostId: string; target: number }[] = [];
  /** GPU kernels: the scheduler the GPU activities talk to (unset: they fail, as with no scheduler). */
  gpuScheduler: FakeGpuScheduler | null = null;
  /** Every allocateKernel request as the workflow sent it (GPU field included). */
  readonly allocations: AllocateRequest[] = [];
  /** Every restoreKernel request as the workflow sent it (GPU field included). */
  readonly restores: RestoreRequest[] = [];
  /** Delay of host operations, ms (kill tests). */
  opDelayMs = 0;
  private seq = 0;
  private warm = 0;

  constructor(hostIds: string[], opts: { warmPool?: number } = {}) {
    for (const h of hostIds)
      this.hosts.set(h, { apiUrl: `http://${h}.invalid`, alive: true, kernels: new Map() });
    this.warm = opts.warmPool ?? 0;
  }

  sandboxesOf(kernelId: string): { hostId: string; state: FakeKernel['state'] }[] {
    return [...this.hosts.entries()].flatMap(([hostId, h]) => {
      const k = h.kernels.get(kernelId);
      return k ? [{ hostId, state: k.state }] : [];
    });
  }

  eventsOf(kernelId: string): PublishRequest['event'][] {
    return this.published.filter((p) => p.kernelId === kernelId).map((p) => p.event);
  }

  kill(hostId: string): void {
    const h = this.hosts.get(hostId)!;
    h.alive = false;
    h.kernels.clear();
  }

  private host(ref: KernelRef) {
    const h = this.hosts.get(ref.hostId);
    if (!h || !h.alive) throw new Error(`host ${ref.hostId} is unreachable`);
    return h;
  }

  private async delay(): Promise<void> {
    if (this.opDelayMs > 0) await new Promise((r) => setTimeout(r, this.opDelayMs));
  }

  activities(): LifecycleActivities {
    const gpu = () => {
      if (!this.gpuScheduler) throw new Error('no gpu-scheduler in this fake fleet');
      return this.gpuScheduler;
    };
    return {
      requestGpu: (req) => gpu().requestGpu(req),
      releaseGpu: (req) => gpu().releaseGpu(req),
      placeKernel: async (req: PlaceRequest) => {
        this.calls.push({ name: 'placeKernel', kernelId: req.kernelId });
        const q = this.queueFor.get(req.kernelId) ?? 0;
        if (q > 0) {
          this.queueFor.set(req.kernelId, q - 1);
          return { placed: false, reason: 'capacity below 20% headroom', etaS: 1 };
        }
        const alive = [...this.hosts.entries()].filter(
          ([id, h]) =>
            h.alive &&
            !req.excludeHosts.includes(id) &&
            (req.requireHost === undefined || id === req.requireHost),
        );
        const pick =
          alive.find(([id]) => id === req.preferHost) ??
          alive.sort((a, b) => a[1].kernels.size - b[1].kernels.size)[0];
        if (!pick) return { placed: false, reason: 'no live host', etaS: 1 };
        return { placed: true, hostId: pick[0], apiUrl: pick[1].apiUrl };
      },
      allocateKernel: async (req) => {
        this.calls.push({ name: 'allocateKernel', kernelId: req.kernelId, hostId: req.hostId });
        this.allocations.push(req);
        await this.delay();
        const h = this.host(req);
        const existing = h.kernels.get(req.kernelId);
        if (existing?.state === 'running')
          return { fromWarmPool: false, bootMs: 0, sandboxId: `sb-${req.kernelId}`, alreadyRunning: true };
        h.kernels.set(req.kernelId, { state: 'running', snapshotId: null });
        const fromWarmPool = this.warm > 0;
        if (fromWarmPool) this.warm--;
        return {
          fromWarmPool,
          bootMs: fromWarmPool ? 50 : 2000,
          sandboxId: `sb-${req.kernelId}`,
          alreadyRunning: false,
        };
      },
      snapshotKernel: async (ref) => {
        this.calls.push({ name: 'snapshotKernel', kernelId: ref.kernelId, hostId: ref.hostId });
        await this.delay();
        const k = this.host(ref).kernels.get(ref.kernelId);
        if (!k) throw new Error(`kernel ${ref.kernelId} is not on ${ref.hostId}`);
        if (this.tooBig.has(ref.kernelId))
          return {
            ok: false,
            tooBig: true,
            message:
              'This kernel uses 12.00 GiB of memory; snapshots are limited to 10.00 GiB. Run All to recompute.',
          };
        if (k.state === 'hibernated' && k.snapshotId)
          return { ok: true, snapshotId: k.snapshotId, bytes: 0, ms: 0, reused: true };
        const snapshotId = `s-${ref.kernelId}-${++this.seq}`;
        k.state = 'hibernated';
        k.snapshotId = snapshotId;
        const set = this.snapshots.get(ref.kernelId) ?? new Set();
        set.add(snapshotId);
        this.snapshots.set(ref.kernelId, set);
        return { ok: true, snapshotId, bytes: 64 * 1024 * 1024, ms: 300, reused: false };
      },
      checkpointKernel: async (ref) => {
        this.calls.push({ name: 'checkpointKernel', kernelId: ref.kernelId, hostId: ref.hostId });
        const k = this.host(ref).kernels.get(ref.kernelId);
        if (!k) throw new Error(`kernel ${ref.kernelId} is not on ${ref.hostId}`);
        const snapshotId = `s-${ref.kernelId}-${++this.seq}`;
        k.snapshotId = snapshotId;
        const set = this.snapshots.get(ref.kernelId) ?? new Set();
        set.add(snapshotId);
        this.snapshots.set(ref.kernelId, set);
        return { ok: true, snapshotId, bytes: 64 * 1024 * 1024, ms: 300, reused: false };
      },
      restoreKernel: async (req) => {
        this.calls.push({ name: 'restoreKernel', kernelId: req.kernelId, hostId: req.hostId });
        this.restores.push(req);
        await this.delay();
        const h = this.host(req);
        if (!this.snapshots.get(req.kernelId)?.has(req.snapshotId))
          return {
            ok: false,
            reason: 'snapshot_missing',
            message: `snapshot ${req.snapshotId} is not in the bucket`,
          };
        const k = h.kernels.get(req.kernelId);
        if (k?.state === 'running')
          return {
            ok: true,
            totalMs: 0,
            downloadMs: 0,
            sandboxId: `sb-${req.kernelId}`,
            alreadyRunning: true,
          };
        h.kernels.set(req.kernelId, { state: 'running', snapshotId: req.snapshotId });
        return {
          ok: true,
          totalMs: 400,
          downloadMs: k ? 0 : 200,
          sandboxId: `sb-${req.kernelId}`,
          alreadyRunning: false,
        };
      },
      terminateKernel: async (ref) => {
        this.calls.push({ name: 'terminateKernel', kernelId: ref.kernelId, hostId: ref.hostId });
        const h = this.hosts.get(ref.hostId);
        h?.kernels.delete(ref.kernelId);
      },
      deleteSnapshots: async ({ kernelId, keep }) => {
        this.calls.push({ name: 'deleteSnapshots', kernelId });
        const set = this.snapshots.get(kernelId) ?? new Set<string>();
        let deleted = 0;
        for (const id of [...set]) {
          if (id === keep) continue;
          set.delete(id);
          deleted++;
        }
        return { deleted };
      },
      warmPoolPlan: async () => this.warmPlan,
      setWarmPoolTarget: async (req) => {
        this.warmTargets.push({ hostId: req.hostId, target: req.target });
        const p = this.warmPlan.find((x) => x.hostId === req.hostId);
        if (p) p.current = req.target;
      },
      publishLifecycle: async (req) => {
        if (!this.published.some((p) => p.eventId === req.eventId)) this.published.push(req);
      },
    };
  }
}
