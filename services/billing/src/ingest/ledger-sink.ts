import type { EventEnvelope } from '@quire/contracts';
import type { BatchEventSink, SinkBatch, SinkOutcome } from '@quire/contracts/kafka';
import type { Pool } from 'pg';
import { iso, Tables } from '../db';

/**
 * The exactly-once sink. One transaction per partition batch:
 *   1. lock the partition's row in consumer_offsets (serialises a zombie
 *      consumer and the partition's new owner during a rebalance);
 *   2. drop messages below the stored offset (already applied), or ask for a
 *      rewind when the batch starts after it (never skip an offset);
 *   3. insert the events into the journal, deduplicated by event id
 *      (ON CONFLICT DO NOTHING: a resent event is counted as a duplicate);
 *   4. mark the kernels / agent runs / hosts they touch for metering;
 *   5. store the next offset and the partition's max event time (watermark).
 * Kafka transactions are not involved, and Kafka's committed offset is a hint.
 */
export interface JournalRow {
  eventId: string;
  type: string;
  tenant: string;
  subject: string;
  eventTime: string;
  kernelId: string | null;
  runId: string | null;
  hostId: string | null;
  offset: string;
  kafkaTs: string;
  data: string;
}

export function keysOf(event: EventEnvelope): {
  kernelId: string | null;
  runId: string | null;
  hostId: string | null;
} {
  const d = (event.data ?? {}) as Record<string, unknown>;
  const s = (v: unknown) => (typeof v === 'string' ? v : null);
  if (event.type.startsWith('quire.agent.')) return { kernelId: null, runId: s(d.runId), hostId: null };
  return { kernelId: s(d.kernelId), runId: null, hostId: s(d.hostId) };
}

/** Event times are metered to the millisecond: anything finer is cut. */
export function eventTimeMs(event: EventEnvelope): number {
  return Date.parse(event.time);
}

interface DirtyMark {
  kind: 'kernel' | 'run' | 'host';
  key: string;
  minTime: number;
  maxTime: number;
  minKafkaTs: number;
  events: number;
}

export class LedgerSink implements BatchEventSink {
  constructor(
    private readonly pool: Pool,
    private readonly t: Tables,
  ) {}

  async storedOffsets(topic: string, partitions: number[]): Promise<Map<number, string>> {
    const { rows } = await this.pool.query<{ kafka_partition: number; next_offset: string }>(
      `SELECT kafka_partition, next_offset FROM ${this.t.offsets} WHERE topic = $1 AND kafka_partition = ANY($2)`,
      [topic, partitions],
    );
    return new Map(rows.map((r) => [r.kafka_partition, r.next_offset]));
  }

  async applyBatch(batch: SinkBatch): Promise<SinkOutcome> {
    const t = this.t;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO ${t.offsets} (topic, kafka_partition, next_offset) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING`,
        [batch.topic, batch.partition],
      );
      const { rows } = await client.query<{ next_offset: string }>(
        `SELECT next_offset FROM ${t.offsets} WHERE topic = $1 AND kafka_partition = $2 FOR UPDATE`,
        [batch.topic, batch.partition],
      );
      const stored = BigInt(rows[0]!.next_offset);
      const first = BigInt(batch.firstOffset);
      const last = BigInt(batch.lastOffset);
      if (stored > last) {
        await client.query('ROLLBACK');
        return { kind: 'committed' };
      }
      if (stored < first && !batch.acceptGap) {
        await client.query('ROLLBACK');
        return { kind: 'seek', offset: stored.toString() };
      }
      const fresh = batch.messages.filter((m) => BigInt(m.offset) >= stored);

      // Journal rows, deduplicated within the batch first (the DB dedupes across batches).
      const seen = new Set<string>();
      const rowsIn: JournalRow[] = [];
      let maxEventTime = -Infinity;
      for (const m of fresh) {
        const e = m.event;
        if (!e || seen.has(e.id)) continue;
        seen.add(e.id);
        const k = keysOf(e);
        const ms = eventTimeMs(e);
        maxEventTime = Math.max(maxEventTime, ms);
        rowsIn.push({
          eventId: e.id,
          type: e.type,
          tenant: e.tenant,
          subject: e.subject,
          eventTime: iso(ms),
          ...k,
          offset: m.offset,
          kafkaTs: iso(Number(m.timestamp)),
          data: JSON.stringify(e.data),
        });
      }
      const validCount = fresh.filter((m) => m.event).length;
      let inserted = new Set<string>();
      if (rowsIn.length) {
        const res = await client.query<{ event_id: string }>(
          `INSERT INTO ${t.journal} (event_id, type, tenant, subject, event_time, kernel_id, run_id, host_id,
                                      topic, kafka_partition, kafka_offset, kafka_ts, data)
           SELECT u.event_id, u.type, u.tenant, u.subject, u.event_time, u.kernel_id, u.run_id, u.host_id,
                  $12, $13, u.kafka_offset, u.kafka_ts, u.data
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
                         $8::text[], $9::bigint[], $10::timestamptz[], $11::jsonb[])
                  AS u(event_id, type, tenant, subject, event_time, kernel_id, run_id, host_id, kafka_offset, kafka_ts, data)
           ON CONFLICT (event_id) DO NOTHING
           RETURNING event_id`,
          [
            rowsIn.map((r) => r.eventId),
            rowsIn.map((r) => r.type),
            rowsIn.map((r) => r.tenant),
            rowsIn.map((r) => r.subject),
            rowsIn.map((r) => r.eventTime),
            rowsIn.map((r) => r.kernelId),
            rowsIn.map((r) => r.runId),
            rowsIn.map((r) => r.hostId),
            rowsIn.map((r) => r.offset),
            rowsIn.map((r) => r.kafkaTs),
            rowsIn.map((r) => r.data),
            batch.topic,
            batch.partition,
          ],
        );
        inserted = new Set(res.rows.map((r) => r.event_id));
      }
      const newRows = rowsIn.filter((r) => inserted.has(r.eventId));

      const heartbeats = newRows.filter((r) => r.type === 'quire.host.HostHeartbeat' && r.hostId);
      if (heartbeats.length) {
        await client.query(
          `INSERT INTO ${t.heartbeats} (host_id, hb_time, event_id)
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::uuid[]) ON CONFLICT DO NOTHING`,
          [
            heartbeats.map((r) => r.hostId),
            heartbeats.map((r) => r.eventTime),
            heartbeats.map((r) => r.eventId),
          ],
        );
      }

      const marks = dirtyMarks(newRows);
      if (marks.length) {
        await client.query(
          `INSERT INTO ${t.dirty} (kind, key, min_time, max_time, min_kafka_ts, events)
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::int[])
           ON CONFLICT (kind, key) DO UPDATE SET
             min_time = LEAST(${t.dirty}.min_time, EXCLUDED.min_time),
             max_time = GREATEST(${t.dirty}.max_time, EXCLUDED.max_time),
             min_kafka_ts = LEAST(${t.dirty}.min_kafka_ts, EXCLUDED.min_kafka_ts),
             events = ${t.dirty}.events + EXCLUDED.events`,
          [
            marks.map((m) => m.kind),
            marks.map((m) => m.key),
            marks.map((m) => iso(m.minTime)),
            marks.map((m) => iso(m.maxTime)),
            marks.map((m) => iso(m.minKafkaTs)),
            marks.map((m) => m.events),
          ],
        );
      }

      const rejected = fresh.filter((m) => m.rejected);
      if (rejected.length) {
        await client.query(
          `INSERT INTO ${t.rejected} (topic, kafka_partition, kafka_offset, event_id, type, reason)
           SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[]) ON CONFLICT DO NOTHING`,
          [
            batch.topic,
            batch.partition,
            rejected.map((m) => m.offset),
            rejected.map((m) => m.rejected!.eventId ?? null),
            rejected.map((m) => m.rejected!.type ?? null),
            rejected.map((m) => m.rejected!.reason),
          ],
        );
      }

      await client.query(
        `UPDATE ${t.offsets}
            SET next_offset = $3,
                max_event_time = CASE WHEN $4::timestamptz IS NULL THEN max_event_time
                                      ELSE GREATEST(COALESCE(max_event_time, $4::timestamptz), $4::timestamptz) END,
                accepted = accepted + $5, duplicates = duplicates + $6, rejected = rejected + $7,
                updated_at = clock_timestamp()
          WHERE topic = $1 AND kafka_partition = $2`,
        [
          batch.topic,
          batch.partition,
          (last + 1n).toString(),
          Number.isFinite(maxEventTime) ? iso(maxEventTime) : null,
          newRows.length,
          validCount - newRows.length,
          rejected.length,
        ],
      );
      await client.query('COMMIT');
      return { kind: 'committed' };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

export function dirtyMarks(rows: readonly JournalRow[]): DirtyMark[] {
  const marks = new Map<string, DirtyMark>();
  const add = (kind: DirtyMark['kind'], key: string, r: JournalRow) => {
    const time = Date.parse(r.eventTime);
    const kts = Date.parse(r.kafkaTs);
    const id = `${kind}\u0000${key}`;
    const m = marks.get(id);
    if (!m) marks.set(id, { kind, key, minTime: time, maxTime: time, minKafkaTs: kts, events: 1 });
    else {
      m.minTime = Math.min(m.minTime, time);
      m.maxTime = Math.max(m.maxTime, time);
      m.minKafkaTs = Math.min(m.minKafkaTs, kts);
      m.events += 1;
    }
  };
  for (const r of rows) {
    if (r.type === 'quire.host.HostHeartbeat') {
      if (r.hostId) add('host', r.hostId, r);
    } else if (r.kernelId) add('kernel', r.kernelId, r);
    else if (r.runId) add('run', r.runId, r);
  }
  // A stable order: concurrent transactions lock marks in the same order (no deadlocks).
  return [...marks.values()].sort((a, b) =>
    a.kind === b.kind ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.kind < b.kind ? -1 : 1,
  );
}
