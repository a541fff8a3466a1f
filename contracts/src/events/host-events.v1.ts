import { z } from 'zod';
import { defineEvent } from '../envelope';
import { TOPICS } from '../topics';
import { bytes, id, millis } from './common';

const topic = TOPICS.hostEvents.name;

/** A MIG GPU instance that exists on a GPU (placement as `nvidia-smi mig -lgi` shows it). */
export const HostMigInstance = z.object({
  /** MIG profile name as NVIDIA prints it, e.g. `1g.10gb`, `3g.40gb`. */
  profile: z.string().regex(/^\d+g\.\d+gb(\+me)?$/),
  /** First memory slot (0..7) and the number of slots it spans. */
  start: z.number().int().min(0).max(7),
  size: z.number().int().min(1).max(8),
  /** `MIG-…` UUID of the instance's device, when known. */
  uuid: z.string().min(1).optional(),
});
export type HostMigInstance = z.infer<typeof HostMigInstance>;

export const HostGpu = z.object({
  /** `GPU-…` UUID: the device id everywhere in Quire (gpu.v1 `device`). */
  uuid: z.string().min(1),
  index: z.number().int().nonnegative(),
  /** Product name as the driver reports it, e.g. `NVIDIA H100 80GB HBM3`. */
  model: z.string().min(1),
  /** Quire's GPU type key used in requests and the price book, e.g. `h100-80gb`, `a100-40gb`, `h200`. */
  gpuType: z.string().min(1),
  memoryBytes: bytes,
  driverVersion: z.string().min(1),
  cudaVersion: z.string().optional(),
  /** MIG mode as enabled now (not the pending mode); `unsupported` on GPUs without MIG. */
  migMode: z.enum(['enabled', 'disabled', 'unsupported']),
  migInstances: z.array(HostMigInstance).default([]),
  /**
   * What this host's sandbox runtime can hand to a sandbox. gVisor's nvproxy
   * passes whole GPUs (on supported drivers) but not MIG devices; `reason`
   * says why not when false.
   */
  sandbox: z.object({
    wholeGpu: z.boolean(),
    migSlices: z.boolean(),
    reason: z.string().optional(),
  }),
  /** Whether `cuda-checkpoint` works here, so GPU memory survives hibernation. */
  cudaCheckpoint: z.boolean().default(false),
});
export type HostGpu = z.infer<typeof HostGpu>;

export const HostHeartbeat = defineEvent({
  type: 'quire.host.HostHeartbeat',
  schemaVersion: 1,
  topic,
  description: 'Every 5 s from each host worker; 5 s without one marks the host lost.',
  data: z.object({
    hostId: id,
    seq: z.number().int().nonnegative(),
    capacity: z.object({ cpuCores: z.number().positive(), memoryBytes: bytes }),
    free: z.object({ cpuCores: z.number().nonnegative(), memoryBytes: bytes }),
    sandboxes: z.number().int().nonnegative(),
    warmPool: z.object({ ready: z.number().int().nonnegative(), target: z.number().int().nonnegative() }),
    labels: z.record(z.string(), z.string()).default({}),
    /** Base URL of the host's internal API (contracts/src/api/host-worker-api.ts). Added compatibly. */
    apiUrl: z.string().url().optional(),
    /**
     * The host's GPUs as its discovery (NVML / `nvidia-smi -q -x`) saw them,
     * and what its sandbox runtime can hand to a sandbox. Absent or empty: no
     * GPUs. Added compatibly; the gpu-scheduler's inventory is built from it.
     */
    gpus: z.array(HostGpu).optional(),
  }),
});

export const SandboxStarted = defineEvent({
  type: 'quire.host.SandboxStarted',
  schemaVersion: 1,
  topic,
  description: 'A sandbox is up with a kernel ready (or pre-booted into the warm pool: kernelId null).',
  data: z.object({
    hostId: id,
    sandboxId: id,
    kernelId: id.nullable(),
    runtime: z.enum(['gvisor', 'process']),
    fromWarmPool: z.boolean(),
    bootMs: millis,
    limits: z.object({
      memoryBytes: bytes,
      cpuQuota: z.number().positive(),
      pids: z.number().int().positive(),
    }),
  }),
});

export const SandboxExited = defineEvent({
  type: 'quire.host.SandboxExited',
  schemaVersion: 1,
  topic,
  description: 'A sandbox ended; reason says why, with the memory figures when it was an OOM.',
  data: z.object({
    hostId: id,
    sandboxId: id,
    kernelId: id.nullable(),
    reason: z.enum(['oom', 'crash', 'killed', 'shutdown', 'runtime_cap']),
    exitCode: z.number().int().nullable(),
    signal: z.string().nullable(),
    peakMemoryBytes: bytes.optional(),
    memoryLimitBytes: bytes.optional(),
    message: z.string().max(2000),
  }),
});

export const SnapshotTaken = defineEvent({
  type: 'quire.host.SnapshotTaken',
  schemaVersion: 1,
  topic,
  description: 'A sandbox checkpoint was written and copied to object storage.',
  data: z.object({
    hostId: id,
    sandboxId: id,
    kernelId: id,
    snapshotId: id,
    bytes,
    ms: millis,
    residentBytes: bytes,
    location: z.string().min(1),
    trigger: z.enum(['hibernate', 'background', 'checkpoint-magic']),
  }),
});

export const SnapshotRestored = defineEvent({
  type: 'quire.host.SnapshotRestored',
  schemaVersion: 1,
  topic,
  description: 'A kernel came back from a snapshot, on this or another host.',
  data: z.object({ hostId: id, sandboxId: id, kernelId: id, snapshotId: id, ms: millis }),
});

export const ResourceSample = defineEvent({
  type: 'quire.host.ResourceSample',
  schemaVersion: 1,
  topic,
  description: 'Periodic CPU and memory reading of one sandbox.',
  data: z.object({
    hostId: id,
    sandboxId: id,
    kernelId: id.nullable(),
    cpuSecondsTotal: z.number().nonnegative(),
    memoryBytes: bytes,
    memoryLimitBytes: bytes,
    peakMemoryBytes: bytes,
    /** The sandbox's GPU (when it has one): utilisation and device memory. Added compatibly. */
    gpu: z
      .object({
        utilizationPct: z.number().min(0).max(100),
        memoryUsedBytes: bytes,
        memoryTotalBytes: bytes,
      })
      .optional(),
  }),
});

export const HOST_EVENTS = [
  HostHeartbeat,
  SandboxStarted,
  SandboxExited,
  SnapshotTaken,
  SnapshotRestored,
  ResourceSample,
];
