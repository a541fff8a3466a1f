import { randomUUID } from 'node:crypto';
import { TOPICS } from '@quire/contracts';
import { createProducer, EventConsumer, EventProducer, type ConsumerLogger } from '@quire/contracts/kafka';
import {
  createS3Client,
  createServiceKafka,
  kafkaConfigSchema,
  s3ConfigSchema,
  serviceConfigSchema,
  temporalConfigSchema,
} from '@quire/service-kit';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { GpuSchedulerClient } from '../activities/gpu-scheduler-client';
import { createLifecycleActivities } from '../activities/lifecycle-activities';
import { SnapshotJanitor } from '../activities/snapshot-janitor';
import { KafkaTemporalBridge } from '../bridge/kafka-temporal-bridge';
import { HostRegistry } from '../placement/host-registry';
import { Placer } from '../placement/placer';
import { warmPoolTarget } from '../placement/warm-pool-sizing';
import type { LifecycleActivities, PlaceRequest, PlaceResult } from '../workflows/lifecycle-activities';

export const lifecycleConfigSchema = z.object({
  ...serviceConfigSchema.shape,
  ...temporalConfigSchema.shape,
  ...kafkaConfigSchema.shape,
  ...s3ConfigSchema.shape,
  QUIRE_SNAPSHOT_BUCKET: z.string().default('quire-snapshots'),
  /** Silence after which a host is lost: its 5 s heartbeat interval + 5 s (ARCHITECTURE: missed for 5 s). */
  QUIRE_HOST_LOST_AFTER_MS: z.coerce.number().int().positive().default(10_000),
  QUIRE_PLACEMENT_MIN_HEADROOM: z.coerce.number().min(0).max(1).default(0.2),
  QUIRE_PLACEMENT_QUEUE_ETA_S: z.coerce.number().positive().default(30),
  /** How long placement waits for a first heartbeat (a worker that just started knows no host yet). */
  QUIRE_PLACEMENT_WAIT_MS: z.coerce.number().int().nonnegative().default(12_000),
  QUIRE_TENANT_KERNEL_CREATIONS_PER_MINUTE: z.coerce.number().positive().default(30),
  /** Warm pool autoscaling: target = P95 of per-minute new kernels over the window × headroom. */
  QUIRE_WARM_POOL_WINDOW_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(30 * 60_000),
  QUIRE_WARM_POOL_HEADROOM: z.coerce.number().positive().default(1.5),
  QUIRE_WARM_POOL_MIN: z.coerce.number().int().min(0).default(1),
  QUIRE_WARM_POOL_MAX: z.coerce.number().int().min(0).default(16),
  /** 0 disables the autoscaler (tests that size pools themselves). */
  QUIRE_WARM_POOL_AUTOSCALE_INTERVAL_MS: z.coerce.number().int().nonnegative().default(60_000),
  /** The gpu-scheduler's internal API (GPU kernels); unset: GPU kernels are refused with a clear error. */
  QUIRE_GPU_SCHEDULER_URL: z.string().url().optional(),
  /** Presented to the gpu-scheduler when set (it asks for it when it has one). */
  QUIRE_INTERNAL_TOKEN: z.string().min(16).optional(),
  /** Consumer group of the Kafka → Temporal bridge (shared by every worker instance). */
  QUIRE_LIFECYCLE_BRIDGE_GROUP: z.string().default('workflows-lifecycle-bridge'),
});
export type LifecycleConfig = z.infer<typeof lifecycleConfigSchema>;

export interface LifecycleRuntime {
  activities: LifecycleActivities;
  registry: HostRegistry;
  bridge: KafkaTemporalBridge;
  client: Client;
  stop(): Promise<void>;
}

/**
 * Everything the lifecycle needs beside the Temporal worker, in the worker
 * process: the host registry (replays host.events.v1 from the start into
 * memory, then follows it live), placement, the Kafka → Temporal bridge, the
 * host-lost watchdog, and the activities' Kafka producer and S3 client. One
 * process per deployment unit keeps the pieces that share the registry
 * together; several instances are fine (the bridge group is shared, signals
 * are deduplicated by event id in the workflow).
 */
export async function startLifecycleRuntime(
  cfg: LifecycleConfig,
  log: ConsumerLogger,
): Promise<LifecycleRuntime> {
  const kafka = createServiceKafka(cfg, `workflows-${cfg.QUIRE_INSTANCE_ID}`);
  const producer = createProducer(kafka);
  await producer.connect();
  const events = new EventProducer(producer, 'workflows', cfg.QUIRE_INSTANCE_ID);
  const snapshots = new SnapshotJanitor(createS3Client(cfg), cfg.QUIRE_SNAPSHOT_BUCKET);
  const registry = new HostRegistry(cfg.QUIRE_HOST_LOST_AFTER_MS);
  const placer = new Placer(registry, {
    minHeadroom: cfg.QUIRE_PLACEMENT_MIN_HEADROOM,
    queueEtaS: cfg.QUIRE_PLACEMENT_QUEUE_ETA_S,
    creationsPerTenantPerMinute: cfg.QUIRE_TENANT_KERNEL_CREATIONS_PER_MINUTE,
  });
  const startedAt = Date.now();
  const place = async (req: PlaceRequest): Promise<PlaceResult> => {
    let r = placer.place(req);
    // Right after start the registry has not seen a heartbeat yet: wait for one rather than queue.
    while (
      !r.placed &&
      r.reason.startsWith('no live host') &&
      Date.now() - startedAt < cfg.QUIRE_PLACEMENT_WAIT_MS
    ) {
      await new Promise((res) => setTimeout(res, 250));
      r = placer.place(req);
    }
    return r;
  };

  // Read model: a group of its own per process, from the beginning of the stream.
  const registryConsumer = new EventConsumer({
    kafka,
    groupId: `workflows-host-registry-${cfg.QUIRE_INSTANCE_ID}-${randomUUID().slice(0, 8)}`,
    topics: [TOPICS.hostEvents.name],
    fromBeginning: true,
    handler: async (e) => registry.apply(e),
    logger: log,
  });
  await registryConsumer.start();

  const connection = await Connection.connect({ address: cfg.QUIRE_TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: cfg.QUIRE_TEMPORAL_NAMESPACE });
  const bridge = new KafkaTemporalBridge(kafka, client, cfg.QUIRE_LIFECYCLE_BRIDGE_GROUP, log);
  await bridge.start();

  const watchdog = setInterval(() => {
    for (const lost of registry.detectLost()) {
      log.warn('host lost', { hostId: lost.hostId, kernels: lost.kernels.length });
      void bridge.hostLost(lost);
    }
  }, 1000);

  const sizing = {
    windowMs: cfg.QUIRE_WARM_POOL_WINDOW_MS,
    headroom: cfg.QUIRE_WARM_POOL_HEADROOM,
    min: cfg.QUIRE_WARM_POOL_MIN,
    max: cfg.QUIRE_WARM_POOL_MAX,
  };
  const activities = createLifecycleActivities({
    events,
    snapshots,
    place,
    placed: (kernelId, hostId) => registry.placed(kernelId, hostId),
    ...(cfg.QUIRE_GPU_SCHEDULER_URL
      ? {
          gpuScheduler: new GpuSchedulerClient(cfg.QUIRE_GPU_SCHEDULER_URL, 15_000, cfg.QUIRE_INTERNAL_TOKEN),
        }
      : {}),
    gpuCheckpoint: (hostId, device) => registry.gpuCheckpoint(hostId, device),
    warmPoolPlan: () =>
      registry
        .aliveHosts()
        .filter((h) => h.apiUrl !== null)
        .map((h) => {
          const creations = (registry.creations.get(h.hostId) ?? []).filter(
            (t) => Date.now() - t < sizing.windowMs,
          );
          return {
            hostId: h.hostId,
            apiUrl: h.apiUrl!,
            current: h.warmPool.target,
            target: warmPoolTarget(creations, Date.now(), sizing),
            recentCreations: creations.length,
          };
        }),
  });

  return {
    activities,
    registry,
    bridge,
    client,
    async stop() {
      clearInterval(watchdog);
      await bridge.stop().catch(() => undefined);
      await registryConsumer.stop().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}
