import { z } from 'zod';

/**
 * Typed configuration per concern, read from QUIRE_* environment variables,
 * validated at boot. A bad or missing value stops the service with one message
 * that lists every problem and the variable to set.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
}

const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
export const port = z.coerce.number().int().min(1).max(65535);

export const kafkaConfigSchema = z.object({
  QUIRE_KAFKA_BROKERS: csv.refine((b) => b.length > 0, 'at least one broker host:port'),
  QUIRE_KAFKA_SSL: bool.default(false),
});

export const postgresConfigSchema = z.object({
  QUIRE_POSTGRES_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  QUIRE_POSTGRES_POOL_SIZE: z.coerce.number().int().positive().default(10),
});

export const s3ConfigSchema = z.object({
  QUIRE_S3_ENDPOINT: z.url().optional(),
  QUIRE_S3_REGION: z.string().default('us-east-1'),
  QUIRE_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  QUIRE_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  QUIRE_S3_FORCE_PATH_STYLE: bool.default(true),
});

export const temporalConfigSchema = z.object({
  QUIRE_TEMPORAL_ADDRESS: z.string().regex(/^[^:]+:\d+$/, 'host:port'),
  QUIRE_TEMPORAL_NAMESPACE: z.string().default('default'),
});

export const serviceConfigSchema = z.object({
  QUIRE_BIND_HOST: z.string().default('127.0.0.1'),
  QUIRE_INSTANCE_ID: z.string().default(() => `${process.pid}`),
  QUIRE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  QUIRE_SHUTDOWN_GRACE_MS: z.coerce.number().int().positive().default(15_000),
});
