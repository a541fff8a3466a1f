import {
  kafkaConfigSchema,
  loadConfig,
  port,
  postgresConfigSchema,
  serviceConfigSchema,
  temporalConfigSchema,
} from '@quire/service-kit';
import { z } from 'zod';

const decimal = z.string().regex(/^\d{1,6}(\.\d{1,6})?$/, 'a decimal amount like 0.15');

export const agentConfigSchema = z.object({
  ...serviceConfigSchema.shape,
  ...kafkaConfigSchema.shape,
  ...postgresConfigSchema.shape,
  ...temporalConfigSchema.shape,
  QUIRE_AGENT_PORT: port.default(8095),
  /** all = internal API + the agent-run workflow worker; api = the internal API only (workers elsewhere). */
  QUIRE_AGENT_ROLE: z.enum(['all', 'api']).default('all'),
  QUIRE_AGENT_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a PostgreSQL schema name')
    .default('agent'),
  QUIRE_AGENT_TASK_QUEUE: z.string().min(1).default('quire-agent'),
  /** The gateway, whose kernel channel runs the agent's cells (ws:// derived from it). */
  QUIRE_GATEWAY_URL: z.url().default('http://127.0.0.1:8080'),
  QUIRE_DOC_SYNC_URL: z.url().default('http://127.0.0.1:8094'),
  /** Signs the agent's doc tokens and agent tokens (the same key the gateway and doc-sync verify with). */
  QUIRE_TOKEN_SIGNING_KEY: z.string().min(32, 'at least 32 characters'),
  /** Callers of /internal/agent-runs… (the gateway) present this as a bearer token. */
  QUIRE_INTERNAL_TOKEN: z.string().min(16, 'at least 16 characters'),
  /** The LLM provider (per org settings are the lead's follow-up; this is the deployment's default). */
  QUIRE_AGENT_LLM_KIND: z.enum(['openai', 'anthropic', 'local']).default('local'),
  QUIRE_AGENT_LLM_BASE_URL: z.url().default('http://127.0.0.1:8097/v1'),
  QUIRE_AGENT_LLM_MODEL: z.string().min(1).default('SmolLM2-135M-Instruct'),
  /** Never logged, never sent to the kernel. */
  QUIRE_AGENT_LLM_API_KEY: z.string().min(1).optional(),
  /**
   * AES-256-GCM key (32 bytes, base64) for the per-org LLM API keys (src/settings/); older keys, comma-separated,
   * in _PREVIOUS_KEYS stay readable while rotating. Without it, org settings cannot hold a key.
   */
  QUIRE_AGENT_SETTINGS_KEY: z.string().min(1).optional(),
  QUIRE_AGENT_SETTINGS_PREVIOUS_KEYS: z.string().optional(),
  QUIRE_AGENT_LLM_PRICE_PROMPT: decimal.default('0'),
  QUIRE_AGENT_LLM_PRICE_COMPLETION: decimal.default('0'),
  QUIRE_AGENT_LLM_TIMEOUT_MS: z.coerce.number().int().positive().default(120_000),
  QUIRE_AGENT_LLM_STREAM: z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .default(true),
  QUIRE_AGENT_PUBLISH_INTERVAL_MS: z.coerce.number().int().positive().default(500),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export const AGENT_CONFIG = Symbol('AGENT_CONFIG');

export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return loadConfig(agentConfigSchema, env);
}
