import {
  createEvent,
  topicSpec,
  type EventData,
  type EventDefinition,
  type EventEnvelope,
} from '@quire/contracts';
import { encodeEvent } from '@quire/contracts/kafka';
import type { Producer } from 'kafkajs';
import { inTransaction } from '@quire/service-kit';
import type { Pool, PoolClient } from 'pg';
import type { Tables } from './tables';

/**
 * gpu.v1's transactional outbox: an event is validated and written in the
 * transaction that made the decision it reports (so the stream never says
 * more or less than PostgreSQL), and published after commit, at least once,
 * with the id it was given (consumers deduplicate by id).
 */
export class OutboxWriter {
  constructor(
    private readonly t: Tables,
    private readonly source: string,
  ) {}

  async add<D extends EventDefinition>(
    c: PoolClient,
    def: D,
    fields: { requestId: string; tenant: string; time: Date; data: EventData<D> },
  ): Promise<EventEnvelope> {
    if (topicSpec(def.topic)?.owner !== 'gpu-scheduler')
      throw new Error(`gpu-scheduler does not own ${def.topic}`);
    const event = createEvent(def, {
      subject: fields.requestId,
      tenant: fields.tenant,
      source: this.source,
      time: fields.time,
      data: fields.data,
    });
    await c.query(`INSERT INTO ${this.t.outbox} (event_id, type, subject, data) VALUES ($1, $2, $3, $4)`, [
      event.id,
      event.type,
      event.subject,
      JSON.stringify(event),
    ]);
    return event;
  }
}

export class OutboxPublisher {
  constructor(
    private readonly pool: Pool,
    private readonly t: Tables,
    private readonly producer: Producer,
    private readonly topic: string,
  ) {}

  /** Publishes what is pending, in commit order; several instances may drain at once (rows are locked). */
  async drain(max = 500): Promise<number> {
    const sent = await inTransaction(this.pool, async (c) => {
      const { rows } = await c.query<{ seq: string; data: EventEnvelope }>(
        `SELECT seq, data FROM ${this.t.outbox} WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [max],
      );
      if (!rows.length) return 0;
      await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: rows.map((r) => encodeEvent(r.data)),
      });
      await c.query(`UPDATE ${this.t.outbox} SET published_at = clock_timestamp() WHERE seq = ANY($1)`, [
        rows.map((r) => r.seq),
      ]);
      return rows.length;
    });
    return sent ?? 0;
  }

  async pending(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${this.t.outbox} WHERE published_at IS NULL`,
    );
    return Number(rows[0]!.n);
  }
}
