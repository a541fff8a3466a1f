import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { EventConsumer, type EventConsumerOptions } from '@quire/contracts/kafka';
import { Counter, Registry } from 'prom-client';
import { METRICS_REGISTRY } from './health/health.controller';
import { Readiness } from './health/readiness';
import { JsonLogger } from './logger';

export const SERVICE_LOGGER = Symbol('SERVICE_LOGGER');

/**
 * Owns a service's Kafka consumers: starts them after boot, counts processed
 * and dead-lettered messages, and on shutdown first marks the service not ready
 * and then drains each consumer (finish the message in flight, commit, leave
 * the group) before the process exits.
 */
@Injectable()
export class EventConsumers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly consumers: EventConsumer[] = [];
  private readonly processed: Counter<'topic' | 'type'>;
  private readonly deadLettered: Counter<'topic'>;

  constructor(
    @Inject(Readiness) private readonly readiness: Readiness,
    @Inject(METRICS_REGISTRY) registry: Registry,
    @Inject(SERVICE_LOGGER) private readonly logger: JsonLogger,
  ) {
    this.processed = new Counter({
      name: 'quire_events_processed_total',
      help: 'Events handled',
      labelNames: ['topic', 'type'],
      registers: [registry],
    });
    this.deadLettered = new Counter({
      name: 'quire_events_dead_lettered_total',
      help: 'Messages sent to a DLQ',
      labelNames: ['topic'],
      registers: [registry],
    });
  }

  add(opts: Omit<EventConsumerOptions, 'logger' | 'onProcessed' | 'onDeadLettered'>): EventConsumer {
    const consumer = new EventConsumer({
      ...opts,
      logger: this.logger,
      onProcessed: (e, m) => this.processed.inc({ topic: m.topic, type: e.type }),
      onDeadLettered: (_r, m) => this.deadLettered.inc({ topic: m.topic }),
    });
    this.consumers.push(consumer);
    return consumer;
  }

  async onApplicationBootstrap(): Promise<void> {
    await Promise.all(this.consumers.map((c) => c.start()));
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.readiness.markDraining();
    this.logger.info('draining Kafka consumers', { signal, consumers: this.consumers.length });
    await Promise.all(this.consumers.map((c) => c.stop()));
  }
}
