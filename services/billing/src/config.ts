import {
  kafkaConfigSchema,
  loadConfig,
  port,
  postgresConfigSchema,
  s3ConfigSchema,
  serviceConfigSchema,
} from '@quire/service-kit';
import { join } from 'node:path';
import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const ms = z.coerce.number().int().positive();

export const billingConfigSchema = z.object({
  ...serviceConfigSchema.shape,
  ...kafkaConfigSchema.shape,
  ...postgresConfigSchema.shape,
  ...s3ConfigSchema.shape,
  QUIRE_BILLING_PORT: port.default(8093),
  /** all = API + consumer + metering; api = HTTP only; worker = consumer + metering, no HTTP. */
  QUIRE_BILLING_ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  QUIRE_BILLING_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a PostgreSQL schema name')
    .default('billing'),
  QUIRE_BILLING_GROUP_ID: z.string().min(1).default('billing-metering'),
  /** Namespace for every topic billing reads and writes (e.g. `staging.`); every service must use the same. */
  QUIRE_BILLING_TOPIC_PREFIX: z
    .string()
    .regex(/^([a-z0-9-]+\.)?$/, 'empty or like `staging.`')
    .default(''),
  /** How late an event may be before the hour it falls in counts as closed (corrections after that). */
  QUIRE_BILLING_LATENESS_MS: ms.default(120_000),
  /** No heartbeat for longer than this = host lost (intervals close at the last heartbeat). */
  QUIRE_BILLING_HOST_LOSS_AFTER_MS: ms.default(10_000),
  /** An event stamped further ahead of its Kafka timestamp than this is refused (to the DLQ). */
  QUIRE_BILLING_MAX_CLOCK_SKEW_MS: ms.default(300_000),
  QUIRE_BILLING_METER_INTERVAL_MS: ms.default(250),
  QUIRE_BILLING_METER_BATCH: ms.default(2000),
  /** Re-meter open intervals when the watermark has moved this far (and whenever metering is idle). */
  QUIRE_BILLING_SWEEP_STEP_MS: ms.default(60_000),
  QUIRE_BILLING_KAFKA_SESSION_TIMEOUT_MS: ms.default(30_000),
  QUIRE_BILLING_KAFKA_REBALANCE_TIMEOUT_MS: ms.default(60_000),
  QUIRE_BILLING_KAFKA_HEARTBEAT_MS: ms.default(3_000),
  QUIRE_BILLING_PARTITIONS_CONCURRENTLY: ms.default(3),
  QUIRE_BILLING_PUBLISH: bool.default(true),
  QUIRE_BILLING_LAG_SAMPLES: bool.default(false),
  QUIRE_BILLING_EXPORT_BUCKET: z.string().min(3).default('quire-exports'),
  QUIRE_BILLING_PRICE_BOOK_DIR: z.string().default(join(__dirname, '..', 'price-book')),
});

export type BillingConfig = z.infer<typeof billingConfigSchema>;

export const BILLING_CONFIG = Symbol('BILLING_CONFIG');

export function loadBillingConfig(env: NodeJS.ProcessEnv = process.env): BillingConfig {
  return loadConfig(billingConfigSchema, env);
}
