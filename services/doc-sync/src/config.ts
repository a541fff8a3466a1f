import {
  kafkaConfigSchema,
  loadConfig,
  port,
  postgresConfigSchema,
  s3ConfigSchema,
  serviceConfigSchema,
} from '@quire/service-kit';
import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const ms = z.coerce.number().int().positive();
const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

export const docSyncConfigSchema = z.object({
  ...serviceConfigSchema.shape,
  ...kafkaConfigSchema.shape,
  ...postgresConfigSchema.shape,
  ...s3ConfigSchema.shape,
  QUIRE_DOC_SYNC_PORT: port.default(8094),
  QUIRE_DOC_SYNC_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a PostgreSQL schema name')
    .default('doc_sync'),
  /** HS256 key shared with the gateway (which mints the tokens). */
  QUIRE_TOKEN_SIGNING_KEY: z.string().min(32, 'at least 32 characters'),
  /**
   * Browser origins allowed to open a document WebSocket. Default: the
   * gateway's own origin, http://127.0.0.1 and http://localhost on
   * QUIRE_GATEWAY_PORT (8080), see loadDocSyncConfig.
   */
  QUIRE_ALLOWED_ORIGINS: csv,
  /** Where the ops log goes: `s3` (bucket below) or `fs` (a folder; single-host only). */
  QUIRE_DOC_SYNC_OPS_STORE: z.enum(['s3', 'fs']).default('s3'),
  QUIRE_DOC_SYNC_BUCKET: z.string().min(3).default('quire-documents'),
  /** Default: `$QUIRE_STATE_DIR/doc-sync-ops`. */
  QUIRE_DOC_SYNC_FS_DIR: z.string().min(1).optional(),
  /** How often the write-ahead log is batched into one ops-log object. */
  QUIRE_DOC_SYNC_OPS_FLUSH_MS: ms.default(5_000),
  /** How often an open, changed document is snapshotted to PostgreSQL. */
  QUIRE_DOC_SYNC_SNAPSHOT_MS: ms.default(60_000),
  /** WebSocket frames bigger than this close the connection with 1009. */
  QUIRE_DOC_SYNC_MAX_FRAME_BYTES: ms.default(10 * 1024 * 1024),
  QUIRE_DOC_SYNC_PUBLISH: bool.default(true),
});

export type DocSyncConfig = z.infer<typeof docSyncConfigSchema>;

export const DOC_SYNC_CONFIG = Symbol('DOC_SYNC_CONFIG');

export function loadDocSyncConfig(env: NodeJS.ProcessEnv = process.env): DocSyncConfig {
  const gatewayPort = env.QUIRE_GATEWAY_PORT ?? '8080';
  return loadConfig(docSyncConfigSchema, {
    QUIRE_ALLOWED_ORIGINS: `http://127.0.0.1:${gatewayPort},http://localhost:${gatewayPort}`,
    ...env,
  });
}
