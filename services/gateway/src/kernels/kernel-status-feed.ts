import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { KernelDied, KernelStateChanged, TOPICS, type EventData, type EventEnvelope } from '@quire/contracts';
import { EventConsumer } from '@quire/contracts/kafka';
import { createServiceKafka, SERVICE_LOGGER, type JsonLogger } from '@quire/service-kit';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config';
import { KernelSessions } from './kernel-sessions';

/**
 * What the lifecycle workflow does to kernels while nobody runs anything
 * (idle → hibernated, restored, evicted, died) reaches the people watching
 * them: kernel.lifecycle.v1 → `kernel_status` on their channels. Every gateway
 * instance needs every event, so each has its own consumer group.
 */
@Injectable()
export class KernelStatusFeed implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly consumer: EventConsumer;

  constructor(
    @Inject(GATEWAY_CONFIG) cfg: GatewayConfig,
    @Inject(KernelSessions) private readonly sessions: KernelSessions,
    @Inject(SERVICE_LOGGER) private readonly logger: JsonLogger,
  ) {
    this.consumer = new EventConsumer({
      kafka: createServiceKafka(cfg, `gateway-status-${cfg.QUIRE_INSTANCE_ID}`),
      groupId: `gateway-kernel-status-${cfg.QUIRE_INSTANCE_ID}`,
      topics: [TOPICS.kernelLifecycle.name],
      fromBeginning: false,
      handler: async (e) => this.onEvent(e),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    // Status pushes are a nicety: a Kafka hiccup at start must not keep the gateway down.
    await this.consumer
      .start()
      .catch((err: unknown) => this.logger.warn('kernel status feed not started', { error: String(err) }));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer.stop().catch(() => undefined);
  }

  private onEvent(e: EventEnvelope): void {
    if (e.type === KernelStateChanged.type) {
      const d = e.data as EventData<typeof KernelStateChanged>;
      this.sessions.existing(d.kernelId)?.lifecycleChanged(d.to, d.reason, e.time);
    } else if (e.type === KernelDied.type) {
      const d = e.data as EventData<typeof KernelDied>;
      this.sessions.existing(d.kernelId)?.lifecycleDied(d.reason, d.message);
    }
  }
}
