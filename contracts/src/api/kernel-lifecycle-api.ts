import type { KernelState } from '../events/common';

/**
 * The contract of the `kernelLifecycle` Temporal workflow (workflows/), for
 * whoever drives or inspects it: the gateway (ensureRunning before a run), the
 * Kafka→Temporal bridge (activity and host signals), the `quire kernels` CLI.
 * Names only — no Temporal import, so contracts stays pure; the workflow
 * defines the handlers with these names and the client calls them by name.
 *
 * One workflow per notebook kernel; id = kernelLifecycleWorkflowId(kernelId),
 * task queue TASK_QUEUES.kernelLifecycle.
 */
export const kernelLifecycleWorkflowId = (kernelId: string): string => `kernel-lifecycle:${kernelId}`;

export const KERNEL_LIFECYCLE = {
  workflowType: 'kernelLifecycle',
  /** Update: make sure the kernel runs (provision, cold boot or restore) and say where. */
  ensureRunningUpdate: 'ensureRunning',
  /** Signal: user activity (exec.v1 ExecuteRequested/Started/Completed), resets idle timers. */
  activitySignal: 'activity',
  /** Signal: host-side facts (host.events.v1: SandboxExited, HostLost, SnapshotTaken by %checkpoint). */
  hostEventSignal: 'hostEvent',
  /** Signal: stop the kernel now (user "force terminate" / notebook deleted). */
  terminateSignal: 'terminate',
  /** Query: LifecycleSnapshot for the UI and SREs. */
  stateQuery: 'state',
} as const;

export type LifecycleTier = 'free' | 'team' | 'gpu' | 'enterprise';

export interface KernelLifecycleInput {
  kernelId: string;
  notebookId: string;
  tenant: string;
  /** Who first asked; later runs by others arrive as activity signals. */
  userId: string;
  tier: LifecycleTier;
  /** Placement constraints (data residency, GPU profile…): must match host heartbeat labels. */
  labels?: Record<string, string>;
  /** Carried across continue-as-new. */
  carried?: unknown;
  /**
   * Overrides of the tier's policy (enterprise contracts; shortened timers in
   * tests). Unset fields come from TIER_POLICIES[tier]. Added compatibly.
   */
  policy?: Partial<LifecyclePolicy>;
  /** Sandbox limits asked of the host (default: the tier's RAM cap). Added compatibly. */
  limits?: { memoryBytes?: number; cpus?: number };
  /**
   * A GPU for this kernel (gpu-scheduler-api.ts): the workflow asks the
   * scheduler for a device before placement, waits while queued and releases
   * it on hibernate, evict, death and host loss. `profile` is `full` or a MIG
   * profile; `allowCpuFallback` only when the user asked. Added compatibly.
   */
  gpu?: { gpuType: string; profile: string; allowCpuFallback?: boolean };
}

/**
 * A tier's lifecycle policy as data (ARCHITECTURE.md, tiers table). Times in
 * milliseconds; `null` = never. `idleAfterMs` counts from the last activity,
 * `hibernateAfterMs` from entering IDLE (or, when idleAfterMs is null as for
 * GPU, from the last activity: "instant" hibernation), `evictAfterMs` from
 * entering HIBERNATED.
 */
export interface LifecyclePolicy {
  idleAfterMs: number | null;
  hibernateAfterMs: number | null;
  evictAfterMs: number | null;
  /** A background snapshot after this much time RUNNING with activity since the last one. */
  backgroundSnapshotEveryMs: number | null;
  memoryBytes: number;
  /** Kernel creations per tenant per minute before new kernels queue. */
  creationsPerTenantPerMinute: number;
  /** Continue-as-new after this many history events (bounded history for kernels that live for months). */
  maxHistoryEvents: number;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const GiB = 1024 ** 3;

export const TIER_POLICIES: Readonly<Record<LifecycleTier, LifecyclePolicy>> = {
  free: {
    idleAfterMs: 5 * MIN,
    hibernateAfterMs: 5 * MIN,
    evictAfterMs: DAY,
    backgroundSnapshotEveryMs: 30 * MIN,
    memoryBytes: GiB,
    creationsPerTenantPerMinute: 10,
    maxHistoryEvents: 2000,
  },
  team: {
    idleAfterMs: 10 * MIN,
    hibernateAfterMs: 30 * MIN,
    evictAfterMs: 7 * DAY,
    backgroundSnapshotEveryMs: 30 * MIN,
    memoryBytes: 8 * GiB,
    creationsPerTenantPerMinute: 60,
    maxHistoryEvents: 2000,
  },
  gpu: {
    idleAfterMs: null,
    hibernateAfterMs: 5 * MIN,
    evictAfterMs: DAY,
    backgroundSnapshotEveryMs: 30 * MIN,
    memoryBytes: 16 * GiB,
    creationsPerTenantPerMinute: 10,
    maxHistoryEvents: 2000,
  },
  enterprise: {
    idleAfterMs: 30 * MIN,
    hibernateAfterMs: 2 * HOUR,
    evictAfterMs: 30 * DAY,
    backgroundSnapshotEveryMs: 30 * MIN,
    memoryBytes: 16 * GiB,
    creationsPerTenantPerMinute: 120,
    maxHistoryEvents: 2000,
  },
};

export function lifecyclePolicyOf(tier: LifecycleTier, override?: Partial<LifecyclePolicy>): LifecyclePolicy {
  return { ...TIER_POLICIES[tier], ...(override ?? {}) };
}

export interface EnsureRunningRequest {
  userId: string;
  /** Why the kernel is needed: a run, an explicit start from the UI, the Jupyter API. */
  reason: 'run' | 'open' | 'jupyter-api' | 'agent';
}

export interface EnsureRunningResult {
  state: 'RUNNING';
  hostId: string;
  /** Base URL of the host's internal API (host-worker-api.ts). */
  hostApiUrl: string;
  /** How it got there, for the UI ("restored in 0.9 s", "fresh kernel: the old one was evicted"). */
  via:
    'already-running' | 'warm-pool' | 'cold-boot' | 'restore' | 'fresh-after-eviction' | 'fresh-after-death';
  /** Set when the variables of the previous kernel are gone and the user should Run All. */
  notice: string | null;
  ms: number;
  /** When admission control queued the start (no host headroom / tenant rate limit): how long it waited. Added compatibly. */
  queuedMs?: number;
}

export interface ActivitySignal {
  kind: 'execute-requested' | 'execute-started' | 'execute-completed' | 'open';
  eventId: string;
  at: string;
}

export interface HostEventSignal {
  kind: 'sandbox-exited' | 'host-lost' | 'snapshot-taken';
  eventId: string;
  hostId: string;
  reason?: string;
  message?: string;
  snapshotId?: string;
  peakMemoryBytes?: number;
  memoryLimitBytes?: number;
}

export interface LifecycleSnapshot {
  kernelId: string;
  notebookId: string;
  tier: LifecycleTier;
  state: KernelState;
  hostId: string | null;
  hostApiUrl: string | null;
  lastSnapshot: { snapshotId: string; bytes: number; at: string } | null;
  /** ISO times the next transitions fire if nothing happens. */
  timers: {
    idleAt: string | null;
    hibernateAt: string | null;
    evictAt: string | null;
    backgroundSnapshotAt: string | null;
  };
  lastDeath: { reason: string; message: string; at: string } | null;
  history: { from: KernelState; to: KernelState; reason: string; at: string }[];
  /** Set while a start waits for capacity (admission control). Added compatibly. */
  queued?: { reason: string; etaS: number; since: string } | null;
  /** The effective policy (tier + overrides). Added compatibly. */
  policy?: LifecyclePolicy;
  /** How many times this kernel's workflow continued-as-new. Added compatibly. */
  generation?: number;
  /**
   * GPU kernels only: the scheduler request of this life and where it stands.
   * While `phase` is `queued`, `position` (1 = next) and `etaS` are what the
   * editor shows ("Waiting for an H100 — position 2, about 4 min"). Added compatibly.
   */
  gpu?: LifecycleGpuStatus | null;
}

export interface LifecycleGpuStatus {
  gpuType: string;
  profile: string;
  requestId: string | null;
  phase: 'none' | 'queued' | 'allocated' | 'released' | 'rejected' | 'cpu_fallback';
  position: number | null;
  etaS: number | null;
  /** When it started waiting (ISO), while queued. */
  queuedSince: string | null;
  allocation: { hostId: string; device: string; slice: string | null; visibleDevice: string } | null;
  /** Whether the allocation's host can keep GPU memory across hibernation (cuda-checkpoint). */
  cudaCheckpoint: boolean | null;
}
