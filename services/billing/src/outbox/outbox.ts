import {
  createEvent,
  topicSpec,
  type EventData,
  type EventDefinition,
  type EventEnvelope,
} from '@quire/contracts';
import { encodeEvent } from '@quire/contracts/kafka';
import type { Producer } from 'kafkajs';
import type { Pool, PoolClient } from 'pg';
import type { Tables } from '../db';

/**
 * Transactional outbox for billing.usage.v1: events are validated and written
 * in the metering transaction, published after it commits (at least once,
 * with the id they were given, so consumers deduplicate by id).
 */
export class OutboxWriter {
  constructor(
    private readonly t: Tables,
    private readonly source: string,
  ) {}

  async add<D extends EventDefinition>(
    c: PoolClient,
    def: D,
    orgId: string,
    data: EventData<D>,
  ): Promise<void> {
    if (topicSpec(def.topic)?.owner !== 'billing') throw new Error(`billing does not own ${def.topic}`);
    const event = createEvent(def, { subject: orgId, tenant: orgId, source: this.source, data });
    await c.query(
      `INSERT INTO ${this.t.outbox} (event_id, type, subject, tenant, event_time, data) VALUES ($1, $2, $3, $4, $5, $6)`,
      [event.id, event.type, event.subject, event.tenant, event.time, JSON.stringify(event)],
    );
  }
}

export class OutboxPublisher {
  constructor(
    private readonly pool: Pool,
    private readonly t: Tables,
    private readonly producer: Producer,
    /** The subscribed name of billing.usage.v1 (with the deployment's topic prefix). */
    private readonly topic: string,
  ) {}

  /** Publishes what is pending; returns how many. */
  async drain(max = 1000): Promise<number> {
    const { rows } = await this.pool.query<{ seq: string; data: EventEnvelope }>(
      `SELECT seq, data FROM ${this.t.outbox} WHERE published_at IS NULL ORDER BY seq LIMIT $1`,
      [max],
    );
    if (!rows.length) return 0;
    await this.producer.send({ topic: this.topic, acks: -1, messages: rows.map((r) => encodeEvent(r.data)) });
    await this.pool.query(
      `UPDATE ${this.t.outbox} SET published_at = clock_timestamp() WHERE seq = ANY($1)`,
      [rows.map((r) => r.seq)],
    );
    return rows.length;
  }
}
