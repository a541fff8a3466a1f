import type { GpuReleaseRequest, GpuRequestState, KernelState, LifecycleTier } from '@quire/contracts';

/**
 * The activities the kernel lifecycle workflow needs, as a type only: the
 * workflow proxies them by name, src/activities/ implements them (host-worker
 * HTTP API, S3, Kafka), tests replace them with fakes. Every activity is safe
 * to retry: a retry after a worker crash never makes a second sandbox or a
 * second visible snapshot.
 */
export interface KernelRef {
  kernelId: string;
  hostId: string;
  apiUrl: string;
}

export interface PlaceRequest {
  kernelId: string;
  tenant: string;
  tier: LifecycleTier;
  labels: Record<string, string>;
  memoryBytes: number;
  /** Hosts not to use (a lost host). */
  excludeHosts: string[];
  /** Use this host if it is alive and fits (restore where the image already is). */
  preferHost: string | null;
  /** Counts against the tenant's kernel-creation rate limit (new kernels, not restores). */
  creation: boolean;
  /** The tier's creation rate limit per tenant and minute. */
  creationsPerMinute: number;
  /** Only this host (where the kernel's GPU was allocated); unset: any. */
  requireHost?: string;
}

export type PlaceResult =
  { placed: true; hostId: string; apiUrl: string } | { placed: false; reason: string; etaS: number };

export interface AllocateRequest extends KernelRef {
  tenant: string;
  notebookId: string;
  userId: string;
  memoryBytes: number;
  cpus?: number;
  /** The allocated GPU to expose to the sandbox (GPU kernels only). */
  gpu?: { device: string; visibleDevice: string };
}

export interface AllocateResult {
  fromWarmPool: boolean;
  bootMs: number;
  sandboxId: string;
  /** A previous attempt of this activity had already started it. */
  alreadyRunning: boolean;
}

export type SnapshotResult =
  | { ok: true; snapshotId: string; bytes: number; ms: number; reused: boolean }
  | { ok: false; tooBig: true; message: string };

export interface RestoreRequest extends KernelRef {
  snapshotId: string;
  /** GPU kernels: the device allocated for this restore. */
  gpu?: { device: string; visibleDevice: string };
}

export type RestoreResult =
  | { ok: true; totalMs: number; downloadMs: number; sandboxId: string; alreadyRunning: boolean }
  | { ok: false; reason: 'snapshot_missing' | 'host_unreachable'; message: string };

export type LifecycleEvent =
  | {
      type: 'KernelRequested';
      userId: string;
    }
  | {
      type: 'KernelStateChanged';
      from: KernelState;
      to: KernelState;
      reason: string;
      hostId: string | null;
    }
  | { type: 'KernelEvicted'; snapshotId: string | null; idleForS: number }
  | {
      type: 'KernelDied';
      reason: 'oom' | 'crash' | 'host_lost' | 'killed' | 'runtime_cap' | 'snapshot_too_big';
      message: string;
      peakMemoryBytes?: number;
      memoryLimitBytes?: number;
    };

export interface PublishRequest {
  /** UUIDv7 made by the workflow: a retried publish carries the same id (consumers dedupe). */
  eventId: string;
  time: string;
  kernelId: string;
  notebookId: string;
  tenant: string;
  tier: LifecycleTier;
  event: LifecycleEvent;
}

export interface GpuAsk {
  requestId: string;
  kernelId: string;
  tenant: string;
  userId: string;
  gpuType: string;
  profile: string;
  allowCpuFallback: boolean;
  idleHibernateAfterMs?: number;
}

/** The scheduler's answer, plus whether the allocation's host keeps GPU memory across hibernation. */
export interface GpuAnswer extends GpuRequestState {
  cudaCheckpoint: boolean;
}

export interface GpuRelease extends GpuReleaseRequest {
  requestId: string;
}

export interface LifecycleActivities {
  /** POST /internal/gpu/requests (idempotent by requestId): asking again returns where it stands. */
  requestGpu(req: GpuAsk): Promise<GpuAnswer>;
  /** POST /internal/gpu/requests/:id/release (idempotent). */
  releaseGpu(req: GpuRelease): Promise<GpuRequestState>;
  placeKernel(req: PlaceRequest): Promise<PlaceResult>;
  allocateKernel(req: AllocateRequest): Promise<AllocateResult>;
  /** Hibernate: checkpoint to S3, sandbox freed. */
  snapshotKernel(req: KernelRef): Promise<SnapshotResult>;
  /** Background snapshot: checkpoint then restore on the same host (the host API has no live snapshot). */
  checkpointKernel(req: KernelRef): Promise<SnapshotResult>;
  restoreKernel(req: RestoreRequest): Promise<RestoreResult>;
  /** Ends the sandbox (or forgets a hibernated one) on the host; a missing kernel or host counts as done. */
  terminateKernel(req: KernelRef): Promise<void>;
  /** Deletes the kernel's snapshots from object storage except `keep`. */
  deleteSnapshots(req: { kernelId: string; keep: string | null }): Promise<{ deleted: number }>;
  publishLifecycle(req: PublishRequest): Promise<void>;
  /** Warm pool autoscaling: each live host's current and wanted pool size. */
  warmPoolPlan(): Promise<WarmPoolPlanEntry[]>;
  setWarmPoolTarget(req: { hostId: string; apiUrl: string; target: number }): Promise<void>;
}

export interface WarmPoolPlanEntry {
  hostId: string;
  apiUrl: string;
  current: number;
  target: number;
  /** New kernels on this host in the trailing window. */
  recentCreations: number;
}
