import { join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * Where the runtime and the model live and how much of the machine they may
 * use. node-llama-cpp and the GGUF file are installed into the cache by the
 * launcher (deploy/local/src/components/local-llm.ts), not by npm install.
 */
export const DEFAULT_MODEL_FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf';
export const DEFAULT_MODEL_ID = 'SmolLM2-135M-Instruct';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const schema = z.object({
  QUIRE_BIND_HOST: z.string().min(1).default('127.0.0.1'),
  QUIRE_LOCAL_LLM_PORT: z.coerce.number().int().min(0).max(65535).default(8097),
  QUIRE_CACHE_DIR: z.string().min(1).default('.quire/cache'),
  QUIRE_LOCAL_LLM_DIR: z.string().min(1).optional(),
  QUIRE_LOCAL_LLM_MODEL_PATH: z.string().min(1).optional(),
  QUIRE_LOCAL_LLM_MODEL_ID: z.string().min(1).default(DEFAULT_MODEL_ID),
  /** CPU threads for inference (default: 2, what a CI machine has). */
  QUIRE_LOCAL_LLM_THREADS: positiveInt(2),
  /** Context window in tokens (prompt + completion). */
  QUIRE_LOCAL_LLM_CONTEXT: positiveInt(8192),
  /** max_tokens when a request gives none. */
  QUIRE_LOCAL_LLM_DEFAULT_MAX_TOKENS: positiveInt(512),
  /** Requests waiting behind the one being generated; more get 503. */
  QUIRE_LOCAL_LLM_QUEUE_LIMIT: positiveInt(32),
});

export interface LocalLlmConfig {
  host: string;
  port: number;
  /** The install folder: node_modules/node-llama-cpp and model/. */
  installDir: string;
  modelPath: string;
  modelId: string;
  threads: number;
  contextSize: number;
  defaultMaxTokens: number;
  queueLimit: number;
}

export class LocalLlmConfigError extends Error {}

export function loadLocalLlmConfig(env: NodeJS.ProcessEnv = process.env): LocalLlmConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new LocalLlmConfigError(`local-llm: invalid configuration (${issues})`);
  }
  const e = parsed.data;
  const installDir = resolve(e.QUIRE_LOCAL_LLM_DIR ?? join(e.QUIRE_CACHE_DIR, 'local-llm'));
  return {
    host: e.QUIRE_BIND_HOST,
    port: e.QUIRE_LOCAL_LLM_PORT,
    installDir,
    modelPath: resolve(e.QUIRE_LOCAL_LLM_MODEL_PATH ?? join(installDir, 'model', DEFAULT_MODEL_FILE)),
    modelId: e.QUIRE_LOCAL_LLM_MODEL_ID,
    threads: e.QUIRE_LOCAL_LLM_THREADS,
    contextSize: e.QUIRE_LOCAL_LLM_CONTEXT,
    defaultMaxTokens: e.QUIRE_LOCAL_LLM_DEFAULT_MAX_TOKENS,
    queueLimit: e.QUIRE_LOCAL_LLM_QUEUE_LIMIT,
  };
}
