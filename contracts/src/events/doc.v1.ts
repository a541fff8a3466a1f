import { z } from 'zod';
import { defineEvent } from '../envelope';
import { TOPICS } from '../topics';
import { bytes, id } from './common';

const topic = TOPICS.doc.name;

export const NotebookCreated = defineEvent({
  type: 'quire.doc.NotebookCreated',
  schemaVersion: 1,
  topic,
  description: 'A notebook exists (created, imported or copied).',
  data: z.object({
    notebookId: id,
    title: z.string().max(500),
    createdBy: id,
    importedFrom: z.string().nullable(),
  }),
});

export const DocPersisted = defineEvent({
  type: 'quire.doc.DocPersisted',
  schemaVersion: 1,
  topic,
  description: 'Document state is durable up to seq (an ops batch in S3 or a snapshot in PostgreSQL).',
  data: z.object({
    notebookId: id,
    seq: z.number().int().nonnegative(),
    kind: z.enum(['ops', 'snapshot']),
    bytes,
  }),
});

export const NotebookShared = defineEvent({
  type: 'quire.doc.NotebookShared',
  schemaVersion: 1,
  topic,
  description: 'Access to a notebook was granted or changed.',
  data: z.object({
    notebookId: id,
    by: id,
    grantee: z.union([z.object({ userId: id }), z.object({ link: z.enum(['view', 'edit']) })]),
    role: z.enum(['owner', 'editor', 'runner', 'viewer', 'none']),
  }),
});

export const DOC_EVENTS = [NotebookCreated, DocPersisted, NotebookShared];
