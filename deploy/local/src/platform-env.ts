import { join } from 'node:path';
import { selectedRunsc, sharedRunscRoot } from './components/gvisor';
import type { PlatformContext } from './platform-context';

/**
 * The environment every Quire service (and every integration test) gets: the
 * same variables a deployment against a real cluster sets, pointing at the
 * local pieces here.
 */
export function platformEnv(ctx: PlatformContext): Record<string, string> {
  const { config, creds } = ctx;
  const host = config.bindHost;
  return {
    QUIRE_POSTGRES_URL: `postgres://${creds.postgresUser}:${encodeURIComponent(creds.postgresPassword)}@${host}:${config.ports.postgres}/${config.postgresDatabase}`,
    QUIRE_KAFKA_BROKERS: `${host}:${config.ports.kafka}`,
    QUIRE_TEMPORAL_ADDRESS: `${host}:${config.ports.temporal}`,
    QUIRE_TEMPORAL_NAMESPACE: 'default',
    QUIRE_S3_ENDPOINT: `http://${host}:${config.ports.s3}`,
    QUIRE_S3_REGION: 'us-east-1',
    QUIRE_S3_ACCESS_KEY_ID: creds.s3AccessKeyId,
    QUIRE_S3_SECRET_ACCESS_KEY: creds.s3SecretAccessKey,
    QUIRE_S3_FORCE_PATH_STYLE: 'true',
    QUIRE_TOKEN_SIGNING_KEY: creds.tokenSigningKey,
    QUIRE_GATEWAY_PORT: String(config.ports.gateway),
    QUIRE_GATEWAY_URL: `http://${host}:${config.ports.gateway}`,
    QUIRE_WORKER_HEALTH_PORT: String(config.ports.workerHealth),
    QUIRE_HOST_WORKER_PORT: String(config.ports.hostWorker),
    QUIRE_BILLING_PORT: String(config.ports.billing),
    QUIRE_DOC_SYNC_PORT: String(config.ports.docSync),
    QUIRE_DOC_SYNC_URL: `http://${host}:${config.ports.docSync}`,
    QUIRE_INTERNAL_TOKEN: creds.internalToken,
    QUIRE_AGENT_SETTINGS_KEY: creds.agentSettingsKey,
    QUIRE_AGENT_PORT: String(config.ports.agent),
    QUIRE_AGENT_URL: `http://${host}:${config.ports.agent}`,
    QUIRE_GPU_SCHEDULER_PORT: String(config.ports.gpuScheduler),
    QUIRE_GPU_SCHEDULER_URL: `http://${host}:${config.ports.gpuScheduler}`,
    QUIRE_LOCAL_LLM_PORT: String(config.ports.localLlm),
    QUIRE_LOCAL_LLM_URL: `http://${host}:${config.ports.localLlm}/v1`,
    QUIRE_BIND_HOST: host,
    QUIRE_STATE_DIR: config.stateDir,
    QUIRE_CACHE_DIR: config.cacheDir,
    QUIRE_KERNEL_ENV: join(config.cacheDir, 'kernel-env'),
    QUIRE_TEMPORAL_CLI: join(config.cacheDir, 'bin', `temporal-${config.versions.temporalCli}`, 'temporal'),
    // The pinned static runsc when it is built, else Debian's; QUIRE_RUNSC_PATH overrides.
    QUIRE_RUNSC_PATH: selectedRunsc(ctx).path,
    // One null network namespace for the gofers of every sandbox on this machine (runsc --shared-root).
    QUIRE_RUNSC_SHARED_ROOT: process.env.QUIRE_RUNSC_SHARED_ROOT || sharedRunscRoot(ctx),
    // Unset: the sandbox driver picks systrap where the binary has it, else ptrace.
    ...(process.env.QUIRE_RUNSC_PLATFORM ? { QUIRE_RUNSC_PLATFORM: process.env.QUIRE_RUNSC_PLATFORM } : {}),
  };
}
