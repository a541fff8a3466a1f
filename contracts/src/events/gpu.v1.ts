import { z } from 'zod';
import { defineEvent } from '../envelope';
import { TOPICS } from '../topics';
import { id } from './common';

const topic = TOPICS.gpu.name;
/** `full` or a MIG profile such as `1g.10gb`. */
const profile = z.string().regex(/^(full|\d+g\.\d+gb)$/);

export const GpuRequested = defineEvent({
  type: 'quire.gpu.GpuRequested',
  schemaVersion: 1,
  topic,
  description: 'A kernel asked for a GPU or a MIG slice.',
  data: z.object({
    requestId: id,
    kernelId: id,
    gpuType: z.string().min(1),
    profile,
    /** Added compatibly: who asked, and whether CPU instead of waiting is allowed. */
    userId: id.optional(),
    allowCpuFallback: z.boolean().optional(),
  }),
});

export const GpuQueued = defineEvent({
  type: 'quire.gpu.GpuQueued',
  schemaVersion: 1,
  topic,
  description: 'No slice free: the request waits, with its position and an ETA.',
  data: z.object({
    requestId: id,
    kernelId: id,
    position: z.number().int().positive(),
    etaS: z.number().nonnegative(),
  }),
});

export const GpuAllocated = defineEvent({
  type: 'quire.gpu.GpuAllocated',
  schemaVersion: 1,
  topic,
  description: 'A device (or MIG slice of one) is the kernel’s from now on.',
  data: z.object({
    requestId: id,
    kernelId: id,
    hostId: id,
    gpuType: z.string().min(1),
    device: z.string().min(1),
    slice: profile.nullable(),
    /** MIG placement: first memory slot. Added compatibly. */
    startSlot: z.number().int().min(0).max(7).nullable().optional(),
  }),
});

export const GpuReleased = defineEvent({
  type: 'quire.gpu.GpuReleased',
  schemaVersion: 1,
  topic,
  description: 'The allocation ended.',
  data: z.object({
    requestId: id,
    kernelId: id,
    device: z.string().min(1),
    slice: profile.nullable(),
    reason: z.enum(['hibernated', 'terminated', 'died', 'preempted']),
    /** Words for the record, e.g. `host h-3 lost`. Added compatibly. */
    detail: z.string().max(500).optional(),
  }),
});

export const GPU_EVENTS = [GpuRequested, GpuQueued, GpuAllocated, GpuReleased];
