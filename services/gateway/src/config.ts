import { resolve } from 'node:path';
import {
  kafkaConfigSchema,
  loadConfig,
  port,
  postgresConfigSchema,
  s3ConfigSchema,
  serviceConfigSchema,
  temporalConfigSchema,
} from '@quire/service-kit';
import { z } from 'zod';
import { TASK_QUEUES } from '@quire/contracts';
import { lifecyclePolicyOverride, placementLabels } from './kernels/lifecycle-overrides';

const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

export const gatewayConfigSchema = z.object({
  ...serviceConfigSchema.shape,
  ...kafkaConfigSchema.shape,
  ...postgresConfigSchema.shape,
  ...s3ConfigSchema.shape,
  ...temporalConfigSchema.shape,
  QUIRE_GATEWAY_PORT: port.default(8080),
  /** HS256 key for user and doc tokens (its UTF-8 bytes); shared with doc-sync. */
  QUIRE_TOKEN_SIGNING_KEY: z.string().min(32, 'at least 32 characters'),
  QUIRE_USER_TOKEN_TTL_S: z.coerce
    .number()
    .int()
    .positive()
    .default(7 * 24 * 3600),
  QUIRE_DOC_TOKEN_TTL_S: z.coerce.number().int().positive().default(3600),
  /** Origins allowed on WebSocket handshakes; default: this gateway on 127.0.0.1 and localhost. */
  QUIRE_ALLOWED_ORIGINS: csv.optional(),
  /** The public origin of this gateway (links in outputs, session URLs); default from the request. */
  QUIRE_PUBLIC_URL: z.url().optional(),
  /** doc-sync's internal base URL (HTTP); the gateway writes outputs into documents there. */
  QUIRE_DOC_SYNC_URL: z.url().default('http://127.0.0.1:8094'),
  /** doc-sync's WebSocket base URL as browsers see it; default: QUIRE_DOC_SYNC_URL with ws(s). */
  QUIRE_DOC_SYNC_PUBLIC_URL: z.url().optional(),
  /** `lifecycle` (Temporal kernelLifecycle workflow) or `direct` (one host worker, dev setups). */
  QUIRE_KERNEL_PROVIDER: z.enum(['lifecycle', 'direct']).default('lifecycle'),
  QUIRE_HOST_WORKER_URL: z.url().optional(),
  /** The lifecycle workflows' task queue (the workflow worker reads the same variable). */
  QUIRE_LIFECYCLE_TASK_QUEUE: z.string().min(1).default(TASK_QUEUES.kernelLifecycle),
  /**
   * Operator override of the tier's lifecycle policy for every kernel this gateway starts (enterprise
   * contracts; shortened timers in tests): JSON Partial<LifecyclePolicy>. Not per-user input.
   */
  QUIRE_LIFECYCLE_POLICY_JSON: lifecyclePolicyOverride.optional(),
  /** Host labels every kernel this gateway starts must be placed on (data residency): key=value,... */
  QUIRE_LIFECYCLE_PLACEMENT_LABELS: placementLabels.optional(),
  QUIRE_OUTPUTS_BUCKET: z.string().min(3).default('quire-outputs'),
  /** Largest WebSocket frame accepted; bigger ones are closed with 1009. */
  QUIRE_WS_MAX_FRAME_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(8 * 1024 * 1024),
  /** Built web editor served at `/` (SPA fallback); the status page when absent. */
  QUIRE_WEB_DIST: z.string().default(resolve(__dirname, '..', '..', 'web', 'dist')),
  /** How long a notebook's document connection stays open after its last activity. */
  QUIRE_DOC_IDLE_CLOSE_MS: z.coerce.number().int().positive().default(30_000),
  /** How often the memory of kernels someone is watching is read from their hosts (ms; 0 = no gauge). */
  QUIRE_KERNEL_MEMORY_POLL_MS: z.coerce.number().int().nonnegative().default(5000),
  /** How often a GPU kernel's place in the scheduler's queue is re-read (workflow state query) while its start waits (ms). */
  QUIRE_GPU_QUEUE_POLL_MS: z.coerce.number().int().positive().default(2000),
  /** The agent service (agent runs); the gateway forwards /api/notebooks/:id/agent-runs… there. */
  QUIRE_AGENT_URL: z.url().default('http://127.0.0.1:8095'),
  /**
   * Bearer token internal services trust from the gateway (the agent service, the gpu-scheduler);
   * `quire` generates it (deploy/local/src/credentials.ts). Unset: agent routes answer 503 agent.unavailable.
   */
  QUIRE_INTERNAL_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** The gpu-scheduler; GET /api/gpu/offer is forwarded there with the caller's org as tenant. */
  QUIRE_GPU_SCHEDULER_URL: z.url().default('http://127.0.0.1:8096'),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfig(gatewayConfigSchema, env);
}

/** Origins a WebSocket handshake may come from. */
export function allowedOrigins(cfg: GatewayConfig): Set<string> {
  if (cfg.QUIRE_ALLOWED_ORIGINS?.length) return new Set(cfg.QUIRE_ALLOWED_ORIGINS);
  const p = cfg.QUIRE_GATEWAY_PORT;
  const own = [`http://127.0.0.1:${p}`, `http://localhost:${p}`];
  if (cfg.QUIRE_PUBLIC_URL) own.push(new URL(cfg.QUIRE_PUBLIC_URL).origin);
  return new Set(own);
}
