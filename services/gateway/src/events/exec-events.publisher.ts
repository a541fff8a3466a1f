import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createProducer, EventProducer } from '@quire/contracts/kafka';
import { createServiceKafka, SERVICE_LOGGER, type JsonLogger } from '@quire/service-kit';
import type { Producer } from 'kafkajs';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config';

/** The gateway's Kafka producer for exec.v1 (idempotent, connected at start). */
@Injectable()
export class ExecEventsPublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly kafkaProducer: Producer;
  readonly producer: EventProducer;

  constructor(
    @Inject(GATEWAY_CONFIG) cfg: GatewayConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: JsonLogger,
  ) {
    this.kafkaProducer = createProducer(createServiceKafka(cfg, `gateway-${cfg.QUIRE_INSTANCE_ID}`));
    this.producer = new EventProducer(this.kafkaProducer, 'gateway', cfg.QUIRE_INSTANCE_ID);
  }

  async onModuleInit(): Promise<void> {
    await this.kafkaProducer.connect();
    this.logger.info('exec.v1 producer connected');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.kafkaProducer.disconnect().catch(() => undefined);
  }
}
