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
}
