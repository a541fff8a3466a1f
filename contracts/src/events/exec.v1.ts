import { z } from 'zod';
import { defineEvent } from '../envelope';
import { TOPICS } from '../topics';
import { bytes, id, millis } from './common';

const topic = TOPICS.exec.name;
const origin = z.enum(['human', 'agent', 'jupyter-api']);

export const ExecuteRequested = defineEvent({
  type: 'quire.exec.ExecuteRequested',
  schemaVersion: 1,
  topic,
  description:
    'Someone asked to run a cell. The code itself stays in the document; the event carries its hash.',
  data: z.object({
    executionId: id,
    kernelId: id,
    notebookId: id,
    cellId: id.nullable(),
    userId: id,
    origin,
    codeSha256: z.string().regex(/^[0-9a-f]{64}$/),
    codeBytes: bytes,
  }),
});

export const ExecuteQueued = defineEvent({
  type: 'quire.exec.ExecuteQueued',
  schemaVersion: 1,
  topic,
  description: 'The run waits behind others; position 1 means next.',
  data: z.object({ executionId: id, kernelId: id, userId: id, position: z.number().int().positive() }),
});

export const ExecuteStarted = defineEvent({
  type: 'quire.exec.ExecuteStarted',
  schemaVersion: 1,
  topic,
  description: 'The execute_request was sent to the kernel.',
  data: z.object({ executionId: id, kernelId: id, cellId: id.nullable(), userId: id, waitedMs: millis }),
});

export const ExecuteCompleted = defineEvent({
  type: 'quire.exec.ExecuteCompleted',
  schemaVersion: 1,
  topic,
  description: 'The kernel replied (or the run was ended by interrupt, cap or kernel death).',
  data: z.object({
    executionId: id,
    kernelId: id,
    userId: id,
    status: z.enum(['ok', 'error', 'aborted', 'interrupted', 'timeout', 'kernel_died']),
    ms: millis,
    executionCount: z.number().int().nonnegative().nullable(),
  }),
});

export const Interrupted = defineEvent({
  type: 'quire.exec.Interrupted',
  schemaVersion: 1,
  topic,
  description: 'A user or the runtime cap interrupted the running cell.',
  data: z.object({
    kernelId: id,
    executionId: id.nullable(),
    by: z.union([id, z.literal('runtime-cap')]),
    mode: z.enum(['interrupt', 'force-terminate']),
  }),
});

export const EXEC_EVENTS = [ExecuteRequested, ExecuteQueued, ExecuteStarted, ExecuteCompleted, Interrupted];
