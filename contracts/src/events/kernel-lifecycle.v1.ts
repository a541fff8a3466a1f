import { z } from 'zod';
import { defineEvent } from '../envelope';
import { TOPICS } from '../topics';
import { bytes, id, kernelState, tier } from './common';

const topic = TOPICS.kernelLifecycle.name;

export const KernelRequested = defineEvent({
  type: 'quire.kernel.KernelRequested',
  schemaVersion: 1,
  topic,
  description: 'A notebook needs a kernel; starts (or signals) its lifecycle workflow.',
  data: z.object({
    kernelId: id,
    notebookId: id,
    userId: id,
    tier,
    gpuProfile: z.string().nullable(),
  }),
});

export const KernelStateChanged = defineEvent({
  type: 'quire.kernel.KernelStateChanged',
  schemaVersion: 1,
  topic,
  description: 'The lifecycle workflow moved the kernel between states.',
  data: z.object({
    kernelId: id,
    notebookId: id,
    from: kernelState,
    to: kernelState,
    reason: z.string().max(500),
    hostId: id.nullable(),
    tier,
  }),
});

export const KernelEvicted = defineEvent({
  type: 'quire.kernel.KernelEvicted',
  schemaVersion: 1,
  topic,
  description: 'The snapshot was deleted after the tier’s eviction period; the next open starts fresh.',
  data: z.object({
    kernelId: id,
    notebookId: id,
    snapshotId: id.nullable(),
    idleForS: z.number().nonnegative(),
  }),
});

export const KernelDied = defineEvent({
  type: 'quire.kernel.KernelDied',
  schemaVersion: 1,
  topic,
  description: 'The kernel is gone; message is what the user is told.',
  data: z.object({
    kernelId: id,
    notebookId: id,
    reason: z.enum(['oom', 'crash', 'host_lost', 'killed', 'runtime_cap', 'snapshot_too_big']),
    message: z.string().max(2000),
    cellId: id.nullable(),
    peakMemoryBytes: bytes.optional(),
    memoryLimitBytes: bytes.optional(),
  }),
});

export const KERNEL_LIFECYCLE_EVENTS = [KernelRequested, KernelStateChanged, KernelEvicted, KernelDied];
