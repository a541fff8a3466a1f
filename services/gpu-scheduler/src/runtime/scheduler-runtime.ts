import {
  HostHeartbeat,
  KernelDied,
  KernelStateChanged,
  TOPICS,
  type EventData,
  type EventEnvelope,
} from '@quire/contracts';
import { createProducer, EventConsumer, type ConsumerLogger } from '@quire/contracts/kafka';
import { createPostgresPool, createServiceKafka, runMigrations } from '@quire/service-kit';
import type { Kafka, Producer } from 'kafkajs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import type { GpuSchedulerConfig } from '../config';
import { GpuScheduler } from '../scheduling/gpu-scheduler';
import { InventoryViews } from '../scheduling/inventory-views';
import { OutboxPublisher } from '../store/outbox';

/** The heartbeat label that names a host's fleet (QUIRE_GPU_FLEET). */
export const FLEET_LABEL = 'quire.fleet';

/**
 * The scheduler's moving parts, with or without Nest: PostgreSQL (schema and
 * decisions), one Kafka consumer in a group shared by every instance
 * (heartbeats → inventory, lifecycle → idle clocks and releases), the outbox
 * publisher of gpu.v1, and the loop that reconsiders waiting pools and sweeps
 * lost hosts.
 */
export class SchedulerRuntime {
  readonly pool: Pool;
  readonly scheduler: GpuScheduler;
  readonly views: InventoryViews;
  private readonly kafka: Kafka;
  private producer: Producer | undefined;
  private consumer: EventConsumer | undefined;
  private publisher: OutboxPublisher | undefined;
  private timers: NodeJS.Timeout[] = [];
  private consumingSince: number | null = null;
  private stopping = false;
  private busy = { outbox: false, decide: false };

  constructor(
    readonly cfg: GpuSchedulerConfig,
    private readonly log: ConsumerLogger,
  ) {
    this.pool = createPostgresPool(cfg, `quire-gpu-scheduler-${cfg.QUIRE_INSTANCE_ID}`);
    this.pool.on('error', (err) => log.warn('idle PostgreSQL client error', { error: err.message }));
    this.scheduler = new GpuScheduler(this.pool, cfg.QUIRE_GPU_SCHEDULER_SCHEMA, {
      hostLossAfterMs: cfg.QUIRE_GPU_HOST_LOSS_AFTER_MS,
      backfillMaxWaitMs: cfg.QUIRE_GPU_BACKFILL_MAX_WAIT_MS,
      defaultQuotaSlots: cfg.QUIRE_GPU_DEFAULT_QUOTA_SLOTS,
      source: `gpu-scheduler/${cfg.QUIRE_INSTANCE_ID}`,
    });
    this.views = new InventoryViews(this.scheduler);
    this.kafka = createServiceKafka(cfg, `gpu-scheduler-${cfg.QUIRE_INSTANCE_ID}`);
  }

  async start(): Promise<void> {
    await runMigrations(this.pool, {
      schema: this.cfg.QUIRE_GPU_SCHEDULER_SCHEMA,
      dir: join(__dirname, '..', '..', 'migrations'),
    });
    this.producer = createProducer(this.kafka);
    await this.producer.connect();
    const prefix = this.cfg.QUIRE_GPU_SCHEDULER_TOPIC_PREFIX;
    this.publisher = new OutboxPublisher(
      this.pool,
      this.scheduler.t,
      this.producer,
      `${prefix}${TOPICS.gpu.name}`,
    );
    this.consumer = new EventConsumer({
      kafka: this.kafka,
      groupId: this.cfg.QUIRE_GPU_SCHEDULER_GROUP_ID,
      topics: [TOPICS.hostEvents.name, TOPICS.kernelLifecycle.name].map((t) => `${prefix}${t}`),
      registryTopicOf: (t) => (t.startsWith(prefix) ? t.slice(prefix.length) : t),
      handler: (e) => this.apply(e),
      logger: this.log,
    });
    await this.consumer.start();
    this.consumingSince = Date.now();
    this.every(this.cfg.QUIRE_GPU_OUTBOX_INTERVAL_MS, 'outbox', () => this.drainOutbox());
    this.every(this.cfg.QUIRE_GPU_DECIDE_INTERVAL_MS, 'decide', () => this.reconsider());
  }

  /** Publishes what the outbox holds now (the API calls it after a decision, so events leave at once). */
  async drainOutbox(): Promise<void> {
    if (!this.publisher || this.busy.outbox) return;
    this.busy.outbox = true;
    try {
      while ((await this.publisher.drain()) > 0) {
        // keep going until empty
      }
    } finally {
      this.busy.outbox = false;
    }
  }

  async outboxPending(): Promise<number> {
    return this.publisher ? this.publisher.pending() : 0;
  }

  private async reconsider(): Promise<void> {
    if (this.busy.decide) return;
    this.busy.decide = true;
    try {
      // Only after a full loss period of listening: a scheduler that just started has not heard anyone yet.
      if (
        this.consumingSince !== null &&
        Date.now() - this.consumingSince > this.cfg.QUIRE_GPU_HOST_LOSS_AFTER_MS
      ) {
        const lost = await this.scheduler.sweepLostHosts();
        if (lost.length) this.log.warn('GPU hosts lost; their allocations are released', { hosts: lost });
      }
      for (const gpuType of await this.scheduler.queuedPools()) await this.scheduler.decidePool(gpuType);
    } finally {
      this.busy.decide = false;
    }
  }

  private async apply(e: EventEnvelope): Promise<void> {
    const time = new Date(e.time);
    if (e.type === HostHeartbeat.type) {
      const d = e.data as EventData<typeof HostHeartbeat>;
      if (this.cfg.QUIRE_GPU_FLEET !== undefined && d.labels[FLEET_LABEL] !== this.cfg.QUIRE_GPU_FLEET)
        return;
      await this.scheduler.applyHeartbeat(d.hostId, time, d.gpus);
    } else if (e.type === KernelStateChanged.type) {
      const d = e.data as EventData<typeof KernelStateChanged>;
      await this.scheduler.applyKernelState(d.kernelId, d.to, time, d.reason);
    } else if (e.type === KernelDied.type) {
      const d = e.data as EventData<typeof KernelDied>;
      await this.scheduler.applyKernelState(d.kernelId, 'DEAD', time, String(d.reason));
    }
  }

  private every(ms: number, what: string, fn: () => Promise<void>): void {
    const tick = () => {
      if (this.stopping) return;
      fn()
        .catch((err: Error) =>
          this.log.warn(`gpu-scheduler ${what} loop failed; retrying`, { error: err.message }),
        )
        .finally(() => {
          if (!this.stopping) this.timers.push(setTimeout(tick, ms));
        });
    };
    this.timers.push(setTimeout(tick, ms));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    await this.consumer?.stop().catch(() => undefined);
    await this.drainOutbox().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
