import type { IHeaders } from 'kafkajs';
import type { EventEnvelope } from '../envelope';

/**
 * Binary-mode CloudEvents over Kafka: envelope attributes in `ce_*` headers,
 * `data` as the JSON value, the message key = subject. Consumers can route and
 * filter on headers without parsing the value.
 */
export const HEADER = {
  id: 'ce_id',
  type: 'ce_type',
  source: 'ce_source',
  time: 'ce_time',
  subject: 'ce_subject',
  tenant: 'ce_tenant',
  schemaVersion: 'ce_schemaversion',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  contentType: 'content-type',
} as const;

export interface WireMessage {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

export function encodeEvent(event: EventEnvelope, extraHeaders: Record<string, string> = {}): WireMessage {
  const headers: Record<string, string> = {
    [HEADER.id]: event.id,
    [HEADER.type]: event.type,
    [HEADER.source]: event.source,
    [HEADER.time]: event.time,
    [HEADER.subject]: event.subject,
    [HEADER.tenant]: event.tenant,
    [HEADER.schemaVersion]: String(event.schemaVersion),
    [HEADER.contentType]: 'application/json',
    ...extraHeaders,
  };
  if (event.traceparent) headers[HEADER.traceparent] = event.traceparent;
  return { key: event.subject, value: Buffer.from(JSON.stringify(event.data)), headers };
}

export function headerString(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined || v === null) return undefined;
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? undefined : Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
}

export function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers ?? {})) {
    const v = headerString(headers, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/**
 * Rebuilds the raw (unvalidated) envelope from a Kafka message. Throws a
 * DecodeError when the value is not JSON; every other problem is left to
 * schema validation so the DLQ reason lists all of them.
 */
export function decodeEvent(headers: IHeaders | undefined, value: Buffer | null): Record<string, unknown> {
  if (value === null) throw new DecodeError('message has no value (tombstone)');
  let data: unknown;
  try {
    data = JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new DecodeError(`value is not JSON: ${(err as Error).message}`);
  }
  const sv = headerString(headers, HEADER.schemaVersion);
  const raw: Record<string, unknown> = {
    id: headerString(headers, HEADER.id),
    type: headerString(headers, HEADER.type),
    source: headerString(headers, HEADER.source),
    time: headerString(headers, HEADER.time),
    subject: headerString(headers, HEADER.subject),
    tenant: headerString(headers, HEADER.tenant),
    schemaVersion: sv === undefined || !/^\d+$/.test(sv) ? sv : Number(sv),
    data,
  };
  const tp = headerString(headers, HEADER.traceparent);
  if (tp !== undefined) raw.traceparent = tp;
  return raw;
}

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}
