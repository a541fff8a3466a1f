import { TOPICS } from '@quire/contracts';
import {
  BatchEventConsumer,
  createKafka,
  createProducer,
  type ConsumerLogger,
  type GroupJoinInfo,
} from '@quire/contracts/kafka';
import { createPostgresPool, runMigrations } from '@quire/service-kit';
import type { Kafka, Producer } from 'kafkajs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import type { BillingConfig } from '../config';
import { Tables } from '../db';
import { LedgerSink } from '../ingest/ledger-sink';
import { Meter } from '../metering/meter';
import { MeterLoop } from '../metering/meter-loop';
import { OutboxPublisher } from '../outbox/outbox';
import { PriceBooks } from '../rating/price-book';

/** The streams billing meters (it owns none of them; it owns billing.usage.v1). */
export const SOURCE_TOPICS = [
  TOPICS.kernelLifecycle.name,
  TOPICS.hostEvents.name,
  TOPICS.gpu.name,
  TOPICS.agent.name,
  TOPICS.exec.name,
] as const;

export interface RuntimeOptions {
  schema?: string;
  groupId?: string;
  consume: boolean;
  meter: boolean;
  publish: boolean;
  deadLetter: boolean;
  onGroupJoin?: (info: GroupJoinInfo) => void;
  onBatch?: (info: { topic: string; partition: number; messages: number; rejected: number }) => void;
}

export interface BillingStatus {
  schema: string;
  accepted: number;
  duplicates: number;
  rejected: number;
  offsets: { topic: string; partition: number; nextOffset: string }[];
  dirtyKeys: number;
  watermark: string | null;
  sweptWatermark: string | null;
  outboxPending: number;
  ledgerRows: number;
  highWaterMark: string;
  /** Everything ingested is metered up to the current watermark and published. */
  caughtUp: boolean;
}

/**
 * Billing's moving parts, usable with or without Nest: the exactly-once sink
 * (a BatchEventConsumer into LedgerSink), the metering loop (one leader per
 * schema) and the outbox publisher.
 */
export class BillingRuntime {
  readonly pool: Pool;
  readonly tables: Tables;
  readonly prices: PriceBooks;
  readonly meter: Meter;
  readonly kafka: Kafka;
  private producer: Producer | undefined;
  private consumer: BatchEventConsumer | undefined;
  private loop: MeterLoop | undefined;

  constructor(
    readonly cfg: BillingConfig,
    readonly opts: RuntimeOptions,
    private readonly log: ConsumerLogger,
  ) {
    this.tables = new Tables(opts.schema ?? cfg.QUIRE_BILLING_SCHEMA);
    this.pool = createPostgresPool(cfg, `quire-billing-${this.tables.schema}`);
    this.pool.on('error', (err) => log.warn('idle PostgreSQL client error', { error: err.message }));
    this.prices = PriceBooks.load(cfg.QUIRE_BILLING_PRICE_BOOK_DIR);
    this.kafka = createKafka({
      brokers: cfg.QUIRE_KAFKA_BROKERS,
      clientId: `billing-${cfg.QUIRE_INSTANCE_ID}`,
      ssl: cfg.QUIRE_KAFKA_SSL,
    });
    this.meter = new Meter(this.pool, this.tables, this.prices, {
      latenessMs: cfg.QUIRE_BILLING_LATENESS_MS,
      hostLossAfterMs: cfg.QUIRE_BILLING_HOST_LOSS_AFTER_MS,
      batchKeys: cfg.QUIRE_BILLING_METER_BATCH,
      sweepStepMs: cfg.QUIRE_BILLING_SWEEP_STEP_MS,
      publish: opts.publish,
      lagSamples: cfg.QUIRE_BILLING_LAG_SAMPLES,
      source: `billing/${cfg.QUIRE_INSTANCE_ID}`,
    });
  }

  topicName(registryName: string): string {
    return `${this.cfg.QUIRE_BILLING_TOPIC_PREFIX}${registryName}`;
  }

  async migrate(): Promise<void> {
    await runMigrations(this.pool, {
      schema: this.tables.schema,
      dir: join(__dirname, '..', '..', 'migrations'),
    });
  }

  async start(): Promise<void> {
    await this.migrate();
    if (this.opts.meter) {
      let publisher: OutboxPublisher | undefined;
      if (this.opts.publish) {
        this.producer = createProducer(this.kafka);
        await this.producer.connect();
        publisher = new OutboxPublisher(
          this.pool,
          this.tables,
          this.producer,
          this.topicName(TOPICS.billingUsage.name),
        );
      }
      this.loop = new MeterLoop(
        this.pool,
        this.meter,
        publisher,
        this.cfg.QUIRE_BILLING_METER_INTERVAL_MS,
        this.log,
      );
      this.loop.start();
    }
    if (this.opts.consume) {
      const prefix = this.cfg.QUIRE_BILLING_TOPIC_PREFIX;
      const skew = this.cfg.QUIRE_BILLING_MAX_CLOCK_SKEW_MS;
      this.consumer = new BatchEventConsumer({
        kafka: this.kafka,
        groupId: this.opts.groupId ?? this.cfg.QUIRE_BILLING_GROUP_ID,
        topics: SOURCE_TOPICS.map((t) => this.topicName(t)),
        registryTopicOf: (t) => (t.startsWith(prefix) ? t.slice(prefix.length) : t),
        sink: new LedgerSink(this.pool, this.tables),
        deadLetter: this.opts.deadLetter,
        extraValidation: (event, message) => {
          const ahead = Date.parse(event.time) - Number(message.timestamp);
          return ahead > skew
            ? `event time ${event.time} is ${Math.round(ahead / 1000)} s ahead of its Kafka timestamp (more than ${skew / 1000} s of clock skew)`
            : undefined;
        },
        consumerConfig: {
          sessionTimeout: this.cfg.QUIRE_BILLING_KAFKA_SESSION_TIMEOUT_MS,
          rebalanceTimeout: this.cfg.QUIRE_BILLING_KAFKA_REBALANCE_TIMEOUT_MS,
          heartbeatInterval: this.cfg.QUIRE_BILLING_KAFKA_HEARTBEAT_MS,
          maxWaitTimeInMs: 200,
        },
        partitionsConsumedConcurrently: this.cfg.QUIRE_BILLING_PARTITIONS_CONCURRENTLY,
        logger: this.log,
        ...(this.opts.onGroupJoin ? { onGroupJoin: this.opts.onGroupJoin } : {}),
        ...(this.opts.onBatch ? { onBatch: this.opts.onBatch } : {}),
      });
      await this.consumer.start();
    }
  }

  async stopConsuming(): Promise<void> {
    await this.consumer?.stop();
    this.consumer = undefined;
  }

  async stop(): Promise<void> {
    await this.stopConsuming();
    await this.loop?.stop();
    await this.producer?.disconnect().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  async status(): Promise<BillingStatus> {
    const t = this.tables;
    const { rows: offs } = await this.pool.query<{
      topic: string;
      kafka_partition: number;
      next_offset: string;
      accepted: string;
      duplicates: string;
      rejected: string;
      max_event_time: Date | null;
    }>(`SELECT * FROM ${t.offsets} ORDER BY topic, kafka_partition`);
    const { rows: misc } = await this.pool.query<{
      dirty: string;
      swept: Date | null;
      outbox: string;
      hwm: string | null;
      recheck: string;
    }>(
      `SELECT (SELECT count(*) FROM ${t.dirty}) AS dirty,
              (SELECT swept_w FROM ${t.meterState} WHERE id = 1) AS swept,
              (SELECT count(*) FROM ${t.outbox} WHERE published_at IS NULL) AS outbox,
              (SELECT max(seq) FROM ${t.ledger}) AS hwm`,
    );
    const W = await this.meter.watermark();
    const m = misc[0]!;
    const sum = (k: 'accepted' | 'duplicates' | 'rejected') => offs.reduce((s, r) => s + Number(r[k]), 0);
    const outboxPending = this.opts.publish ? Number(m.outbox) : 0;
    return {
      schema: t.schema,
      accepted: sum('accepted'),
      duplicates: sum('duplicates'),
      rejected: sum('rejected'),
      offsets: offs.map((r) => ({ topic: r.topic, partition: r.kafka_partition, nextOffset: r.next_offset })),
      dirtyKeys: Number(m.dirty),
      watermark: W === null ? null : new Date(W).toISOString(),
      sweptWatermark: m.swept?.toISOString() ?? null,
      outboxPending,
      ledgerRows:
        Number(m.hwm ?? 0) > 0
          ? Number((await this.pool.query(`SELECT count(*) AS n FROM ${t.ledger}`)).rows[0].n)
          : 0,
      highWaterMark: m.hwm ?? '0',
      caughtUp:
        Number(m.dirty) === 0 &&
        W !== null &&
        m.swept !== null &&
        m.swept.getTime() === W &&
        outboxPending === 0,
    };
  }
}
