import {
  kafkaConfigSchema,
  loadConfig,
  port,
  postgresConfigSchema,
  serviceConfigSchema,
} from '@quire/service-kit';
import { z } from 'zod';

const ms = z.coerce.number().int().positive();

export const gpuSchedulerConfigSchema = z.object({
  ...serviceConfigSchema.shape,
  ...kafkaConfigSchema.shape,
  ...postgresConfigSchema.shape,
  QUIRE_GPU_SCHEDULER_PORT: port.default(8096),
  QUIRE_GPU_SCHEDULER_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a PostgreSQL schema name')
    .default('gpu_scheduler'),
  /** One group for every instance: each heartbeat and lifecycle event is applied once. */
  QUIRE_GPU_SCHEDULER_GROUP_ID: z.string().min(1).default('gpu-scheduler'),
  /**
   * When set, callers of /internal/gpu… and /api/gpu… present it as a bearer token (the
   * gateway and the lifecycle worker do). Unset: the API trusts its network, like the host worker's.
   */
  QUIRE_INTERNAL_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** A host without a heartbeat for this long is lost: its allocations are released (`died`). */
  QUIRE_GPU_HOST_LOSS_AFTER_MS: ms.default(20_000),
  /** How often queued pools are reconsidered and lost hosts swept. */
  QUIRE_GPU_DECIDE_INTERVAL_MS: ms.default(1000),
  /** After the front of a queue has waited this long, smaller requests no longer pass it. */
  QUIRE_GPU_BACKFILL_MAX_WAIT_MS: ms.default(5 * 60_000),
  /** A tenant's GPU quota in memory slots (a whole GPU = 8) unless set per tenant (PUT /internal/gpu/quotas/:tenant). */
  QUIRE_GPU_DEFAULT_QUOTA_SLOTS: z.coerce.number().int().nonnegative().default(16),
  /**
   * Serve one fleet: only hosts whose heartbeat labels carry `quire.fleet=<this>` join the
   * inventory (one scheduler per region or cluster; tests use it to keep their hosts apart). Unset: every host.
   */
  QUIRE_GPU_FLEET: z.string().min(1).max(100).optional(),
  /** Namespace of every topic the scheduler reads and writes (e.g. `staging.`); every service of a deployment uses the same. */
  QUIRE_GPU_SCHEDULER_TOPIC_PREFIX: z
    .string()
    .regex(/^([a-z0-9-]+\.)?$/, 'empty or like `staging.`')
    .default(''),
  QUIRE_GPU_OUTBOX_INTERVAL_MS: ms.default(200),
});

export type GpuSchedulerConfig = z.infer<typeof gpuSchedulerConfigSchema>;
export const GPU_SCHEDULER_CONFIG = Symbol('GPU_SCHEDULER_CONFIG');

export function loadGpuSchedulerConfig(env: NodeJS.ProcessEnv = process.env): GpuSchedulerConfig {
  return loadConfig(gpuSchedulerConfigSchema, env);
}
