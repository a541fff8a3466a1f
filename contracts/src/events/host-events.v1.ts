import { z } from 'zod';
import { defineEvent } from '../envelope';
import { TOPICS } from '../topics';
import { bytes, id, millis } from './common';

const topic = TOPICS.hostEvents.name;

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
