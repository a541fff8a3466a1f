import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  KernelDied,
  KernelStateChanged,
  ResourceSample,
  TOPICS,
  type EventData,
  type EventEnvelope,
  type KernelState,
  type KernelStatus,
} from '@quire/contracts';
import { EventConsumer } from '@quire/contracts/kafka';
import { createServiceKafka, SERVICE_LOGGER, type JsonLogger } from '@quire/service-kit';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config';
import { KernelSessions } from './kernel-sessions';
import { RESTORING_PROGRESS } from './lifecycle-kernel-provider';

/**
 * Lifecycle states on the way to RUNNING, with the progress people see (the
 * workflow's reasons name snapshot and host ids: for SREs, not for the bar).
 */
const BRING_UP: ReadonlyMap<KernelState, string> = new Map<KernelState, string>([
  ['PROVISION', 'taking a pre-booted kernel'],
  ['COLD_BOOT', 'booting a new kernel'],
  ['RESTORE', RESTORING_PROGRESS],
]);

/**
 * What a KernelStateChanged means for a session whose bar shows `current`:
 * the reason to show with it, or null when it is old news — a cell already
 * runs on the kernel, so a start or restore reported late over Kafka would
 * otherwise put "restoring" on the bar and leave it there until the next run.
 */
export function lifecycleReasonToShow(to: KernelState, reason: string, current: KernelStatus): string | null {
  if (current.state === 'busy' && BRING_UP.has(to)) return null;
  return BRING_UP.get(to) ?? reason;
}

/**
 * What the lifecycle workflow does to kernels while nobody runs anything
 * (idle → hibernated, restored, evicted, died) reaches the people watching
 * them: kernel.lifecycle.v1 → `kernel_status` on their channels. A GPU
 * kernel's device memory comes the same way: host.events.v1 ResourceSample
 * `gpu` → `kernel_status.gpuMemory` (the cgroup RAM gauge is polled from the
 * host instead; the GPU reading exists only as that event). Every gateway
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
      topics: [TOPICS.kernelLifecycle.name, TOPICS.hostEvents.name],
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
      const session = this.sessions.existing(d.kernelId);
      if (!session) return;
      const reason = lifecycleReasonToShow(d.to, d.reason, session.kernelStatus);
      if (reason !== null) session.lifecycleChanged(d.to, reason, e.time);
    } else if (e.type === KernelDied.type) {
      const d = e.data as EventData<typeof KernelDied>;
      this.sessions.existing(d.kernelId)?.lifecycleDied(d.reason, d.message);
    } else if (e.type === ResourceSample.type) {
      const d = e.data as EventData<typeof ResourceSample>;
      if (d.kernelId && d.gpu) this.sessions.existing(d.kernelId)?.setGpuMemory(gpuMemoryOf(d.gpu));
    }
  }
}

/** ResourceSample's `gpu` reading as kernel_status.gpuMemory. */
export function gpuMemoryOf(g: NonNullable<EventData<typeof ResourceSample>['gpu']>): {
  usedBytes: number;
  totalBytes: number;
  utilizationPct: number;
} {
  return { usedBytes: g.memoryUsedBytes, totalBytes: g.memoryTotalBytes, utilizationPct: g.utilizationPct };
}
