import { z } from 'zod';
import { hostApiId } from './host-worker-api';

/**
 * The gpu-scheduler's HTTP API (services/gpu-scheduler). The scheduler owns
 * `gpu.v1`, the GPU inventory (built from HostHeartbeat `gpus`), MIG layouts,
 * per-tenant GPU quotas and the FIFO queue with position and ETA.
 *
 * Internal (kernel-lifecycle activities; never exposed to users):
 *   POST /internal/gpu/requests                    GpuAllocationRequest → GpuRequestState
 *        Idempotent by `requestId`: asking again returns the request's current state.
 *   GET  /internal/gpu/requests/:requestId         → GpuRequestState (404 gpu.request_not_found)
 *   POST /internal/gpu/requests/:requestId/release GpuReleaseRequest → GpuRequestState
 *        Idempotent: releasing a released (or still queued: it leaves the queue) request is a no-op.
 *   GET  /internal/gpu/inventory                   → GpuInventoryDto (SREs, the CLI)
 *
 * For the editor (through the gateway's route table, any member of the org):
 *   GET  /api/gpu/offer?tenant=<org>               → GpuOfferDto (what the org may pick, with availability)
 *
 * Errors are problem+json with a stable `code`: gpu.unknown_type,
 * gpu.profile_not_offered, gpu.quota_exceeded, gpu.request_not_found,
 * validation.failed.
 */

/** Quire's GPU type keys: lower-case model + memory, e.g. `h100-80gb`, `a100-40gb`, `h200-141gb`, `l4-24gb`. */
export const gpuTypeKey = z.string().regex(/^[a-z0-9][a-z0-9.-]{0,40}$/);
/** `full` (a whole GPU) or a MIG profile such as `1g.10gb`, `3g.40gb` (gpu.v1's profile pattern; `+me` profiles are modelled by the placer but not offered). */
export const gpuProfile = z.string().regex(/^(full|\d+g\.\d+gb)$/);

export const GpuAllocationRequest = z.object({
  /** Idempotency key; one per kernel start that needs a GPU (the lifecycle derives it). */
  requestId: hostApiId,
  kernelId: hostApiId,
  tenant: hostApiId,
  userId: hostApiId,
  gpuType: gpuTypeKey,
  profile: gpuProfile,
  /** Only when the user asked for it: run on CPU instead of waiting. Never a silent downgrade. */
  allowCpuFallback: z.boolean().default(false),
  /** The kernel's idle deadline policy (ms to hibernation when idle), used for ETAs of later requests. */
  idleHibernateAfterMs: z.number().int().positive().optional(),
});
export type GpuAllocationRequest = z.input<typeof GpuAllocationRequest>;

export interface GpuAllocationDto {
  hostId: string;
  /** `GPU-…` UUID of the physical GPU. */
  device: string;
  gpuType: string;
  /** null = the whole GPU; else the MIG profile. */
  slice: string | null;
  /** MIG placement (start memory slot) when `slice` is set. */
  startSlot: number | null;
  /** Host-side device handle to expose to the sandbox (whole GPU: its index as a string). */
  visibleDevice: string;
  allocatedAt: string;
}

export type GpuRequestPhase = 'queued' | 'allocated' | 'released' | 'rejected' | 'cpu_fallback';

export interface GpuRequestState {
  requestId: string;
  kernelId: string;
  tenant: string;
  gpuType: string;
  profile: string;
  phase: GpuRequestPhase;
  /** While queued: 1 = next. */
  position: number | null;
  /** While queued: seconds until a device is expected, from running allocations' idle deadlines and history. */
  etaS: number | null;
  allocation: GpuAllocationDto | null;
  /** Rejected / released: why, in words a user can read. */
  reason: string | null;
  requestedAt: string;
}

export const GpuReleaseRequest = z.object({
  reason: z.enum(['hibernated', 'terminated', 'died', 'preempted']),
  /** Words for the record, e.g. `host h-3 lost`. */
  detail: z.string().max(500).optional(),
});
export type GpuReleaseRequest = z.infer<typeof GpuReleaseRequest>;

export interface GpuOfferItem {
  gpuType: string;
  profile: string;
  /** e.g. `H100 80GB`, `1g.10gb slice of an H100`. */
  label: string;
  /** Devices or slices free right now (placeable without a re-layout). */
  free: number;
  /** Requests of this kind waiting. */
  queued: number;
  /** Whether a sandbox on some host can be handed this today (MIG needs a runtime that passes it). */
  runnable: boolean;
  /** Why not runnable, in words. */
  note: string | null;
}

/**
 * What a notebook runs on, chosen in the editor's compute picker and kept in
 * the notebook's metadata under NOTEBOOK_COMPUTE_METADATA_KEY (so every
 * collaborator sees the same choice); the kernel start reads it into
 * KernelLifecycleInput.gpu. Absent = CPU.
 */
export const NotebookCompute = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('cpu') }),
  z.object({
    kind: z.literal('gpu'),
    gpuType: gpuTypeKey,
    profile: gpuProfile,
    /** Only when the user ticked it: run on CPU instead of waiting. */
    allowCpuFallback: z.boolean().default(false),
  }),
]);
export type NotebookCompute = z.input<typeof NotebookCompute>;
export const NOTEBOOK_COMPUTE_METADATA_KEY = 'quire.compute';

export interface GpuOfferDto {
  tenant: string;
  items: GpuOfferItem[];
}

export interface GpuInventoryGpu {
  hostId: string;
  uuid: string;
  gpuType: string;
  model: string;
  migMode: 'enabled' | 'disabled' | 'unsupported';
  /** Current MIG layout (or one `full` entry) and who holds each part. */
  parts: {
    profile: string;
    start: number | null;
    size: number;
    requestId: string | null;
    kernelId: string | null;
  }[];
}

export interface GpuInventoryDto {
  gpus: GpuInventoryGpu[];
  queue: {
    requestId: string;
    kernelId: string;
    tenant: string;
    gpuType: string;
    profile: string;
    position: number;
    etaS: number | null;
  }[];
}
