import { z } from 'zod';
import { UUID_V7_PATTERN, uuidv7 } from './uuidv7';

/**
 * The one envelope on the wire (CloudEvents-shaped). On Kafka the envelope
 * travels in headers (`ce_*`, `traceparent`) and the value is `data` as JSON;
 * see kafka/wire-format.ts.
 */
export const envelopeSchema = z.object({
  /** UUIDv7; the idempotency key: consumers deduplicate by it. */
  id: z.string().regex(UUID_V7_PATTERN, 'id must be a UUIDv7'),
  /** Event type, e.g. `quire.host.HostHeartbeat`. */
  type: z
    .string()
    .regex(/^quire\.[a-z-]+\.[A-Z][A-Za-z]+$/, 'type must look like quire.<domain>.<EventName>'),
  /** Who produced it: `<service>/<instance>`, e.g. `host-worker/host-a`. */
  source: z.string().min(1).max(200),
  /** RFC 3339 timestamp of when the fact happened. */
  time: z.iso.datetime({ offset: true }),
  /** What it is about: the Kafka key (kernel, notebook, host… id). */
  subject: z.string().min(1).max(200),
  /** The org the event belongs to; `system` for platform events (host heartbeats). */
  tenant: z.string().min(1).max(100),
  /** Version of the `data` schema for this type; see SCHEMA_EVOLUTION.md. */
  schemaVersion: z.number().int().positive(),
  /** W3C trace context of the operation that produced it, if any. */
  traceparent: z
    .string()
    .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
    .optional(),
  data: z.unknown(),
});

export type EventEnvelope<TData = unknown> = Omit<z.infer<typeof envelopeSchema>, 'data'> & { data: TData };

export const SYSTEM_TENANT = 'system';

/**
 * One event type: its name, the topic it lives on, its data schema and docs.
 * Data schemas are plain (non-strict) zod objects: unknown fields from a newer
 * producer are kept and ignored, which is what makes additive change safe.
 */
export interface EventDefinition<TType extends string = string, TSchema extends z.ZodType = z.ZodType> {
  readonly type: TType;
  readonly schemaVersion: number;
  readonly topic: string;
  readonly data: TSchema;
  readonly description: string;
}

export type EventData<D extends EventDefinition> = z.infer<D['data']>;

export function defineEvent<TType extends string, TSchema extends z.ZodType>(
  def: EventDefinition<TType, TSchema>,
): EventDefinition<TType, TSchema> {
  return Object.freeze(def);
}

export interface NewEventFields<D extends EventDefinition> {
  subject: string;
  tenant: string;
  source: string;
  data: EventData<D>;
  time?: Date;
  traceparent?: string;
  id?: string;
}

/** Builds and validates an envelope; throws EventValidationError on bad data. */
export function createEvent<D extends EventDefinition>(
  def: D,
  fields: NewEventFields<D>,
): EventEnvelope<EventData<D>> {
  const envelope = {
    id: fields.id ?? uuidv7(),
    type: def.type,
    source: fields.source,
    time: (fields.time ?? new Date()).toISOString(),
    subject: fields.subject,
    tenant: fields.tenant,
    schemaVersion: def.schemaVersion,
    ...(fields.traceparent ? { traceparent: fields.traceparent } : {}),
    data: fields.data,
  };
  return validateEnvelope(envelope, def) as EventEnvelope<EventData<D>>;
}

export class EventValidationError extends Error {
  constructor(
    readonly reason: string,
    readonly issues: readonly string[],
  ) {
    super(`${reason}: ${issues.join('; ')}`);
    this.name = 'EventValidationError';
  }
}

function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/** Validates the envelope attributes only (not `data`): enough to look the type up. */
export function parseEnvelopeAttributes(raw: unknown): EventEnvelope {
  const env = envelopeSchema.safeParse(raw);
  if (!env.success) throw new EventValidationError('invalid envelope', formatIssues(env.error));
  return env.data as EventEnvelope;
}

/** Validates envelope and data against one definition. Returns the parsed envelope (data parsed too). */
export function validateEnvelope(raw: unknown, def: EventDefinition): EventEnvelope {
  const env = envelopeSchema.safeParse(raw);
  if (!env.success) throw new EventValidationError('invalid envelope', formatIssues(env.error));
  if (env.data.type !== def.type) {
    throw new EventValidationError('wrong event type', [`expected ${def.type}, got ${env.data.type}`]);
  }
  if (env.data.schemaVersion !== def.schemaVersion) {
    throw new EventValidationError('unsupported schemaVersion', [
      `${def.type} v${env.data.schemaVersion} is not known here (known: v${def.schemaVersion})`,
    ]);
  }
  const data = def.data.safeParse(env.data.data);
  if (!data.success) throw new EventValidationError(`invalid data for ${def.type}`, formatIssues(data.error));
  return { ...env.data, data: data.data };
}
