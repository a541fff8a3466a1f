import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { kafkaConfigSchema, loadConfig, port, s3ConfigSchema, serviceConfigSchema } from '@quire/service-kit';
import { z } from 'zod';

const GiB = 1024 ** 3;

export const hostWorkerConfigSchema = z.object({
  ...serviceConfigSchema.shape,
  ...kafkaConfigSchema.shape,
  ...s3ConfigSchema.shape,
  QUIRE_HOST_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/)
    .default(() => hostname().replace(/[^A-Za-z0-9._:-]/g, '-')),
  QUIRE_HOST_WORKER_PORT: port.default(8092),
  /** This host worker's folder: bundles, runsc state, local snapshots, volumes. */
  QUIRE_HOST_STATE_DIR: z.string().optional(),
  QUIRE_STATE_DIR: z.string().default('.quire/state'),
  /**
   * Users' persistent volumes (/home/jovyan). Must be the same path on every
   * host (a shared filesystem in a cluster): a checkpoint image records its
   * mount sources, so restoring on another host needs them at the same place.
   */
  QUIRE_VOLUMES_DIR: z.string().optional(),
  QUIRE_KERNEL_ENV: z.string().min(1),
  QUIRE_KERNEL_SHIM_DIR: z
    .string()
    .default(resolve(__dirname, '..', '..', '..', 'sandbox-runtimes', 'kernel-shim')),
  /** The launcher sets the pinned static build when it is installed; Debian's 2022 build otherwise. */
  QUIRE_RUNSC_PATH: z.string().default('/usr/bin/runsc'),
  /** `systrap`, `ptrace` or `kvm`; unset: systrap where the runsc has it, else ptrace. */
  QUIRE_RUNSC_PLATFORM: z.enum(['systrap', 'ptrace', 'kvm']).optional(),
  /** runsc `--shared-root` (current runsc): one null network namespace for every sandbox on the machine. */
  QUIRE_RUNSC_SHARED_ROOT: z.string().optional(),
  /** `gvisor` (default), or `process`: unsandboxed, development only, needs the flag below. */
  QUIRE_KERNEL_RUNTIME: z.enum(['gvisor', 'process']).default('gvisor'),
  QUIRE_ALLOW_UNSAFE_PROCESS_RUNTIME: z.enum(['true', 'false']).default('false'),
  QUIRE_SNAPSHOT_BUCKET: z.string().default('quire-snapshots'),
  /** Kernels using more memory than this are not snapshotted (the lifecycle falls back to "Run All on return"). */
  QUIRE_SNAPSHOT_MAX_RESIDENT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(10 * GiB),
  /** Pre-booted kernels kept ready on this host (0 = none); the lifecycle's autoscaler changes it at run time. */
  QUIRE_WARM_POOL_SIZE: z.coerce.number().int().min(0).max(64).default(1),
  /**
   * How the gateway and the lifecycle reach this host's internal API, as announced in
   * every HostHeartbeat. Default http://<QUIRE_BIND_HOST>:<QUIRE_HOST_WORKER_PORT>; set it
   * to the pod or node address in a cluster.
   */
  QUIRE_HOST_WORKER_API_URL: z.string().url().optional(),
  QUIRE_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().positive().default(5000),
  QUIRE_RESOURCE_SAMPLE_INTERVAL_MS: z.coerce.number().int().positive().default(15_000),
  /** `nvidia-smi` (default; no nvidia-smi = no GPUs), `none`, or `file:<recorded nvidia-smi -q -x output>`. */
  QUIRE_GPU_DISCOVERY: z.string().default('nvidia-smi'),
  /** How often the GPU inventory in heartbeats is re-discovered. */
  QUIRE_GPU_REFRESH_INTERVAL_MS: z.coerce.number().int().positive().default(60_000),
  /** Per-cell runtime caps (ARCHITECTURE.md invariant 4). */
  QUIRE_CELL_CAP_HUMAN_S: z.coerce
    .number()
    .positive()
    .default(4 * 3600),
  QUIRE_CELL_CAP_AGENT_S: z.coerce.number().positive().default(60),
  /** Placement labels, e.g. `region=eu,gpu=none`. */
  QUIRE_HOST_LABELS: z
    .string()
    .default('')
    .transform((s) =>
      Object.fromEntries(
        s
          .split(',')
          .filter(Boolean)
          .map((kv) => kv.split('=') as [string, string]),
      ),
    ),
});

const checked = hostWorkerConfigSchema.refine(
  (c) => c.QUIRE_KERNEL_RUNTIME !== 'process' || c.QUIRE_ALLOW_UNSAFE_PROCESS_RUNTIME === 'true',
  {
    path: ['QUIRE_KERNEL_RUNTIME'],
    message:
      'the process runtime runs kernels WITHOUT a sandbox; set QUIRE_ALLOW_UNSAFE_PROCESS_RUNTIME=true to accept that (development only)',
  },
);

export type HostWorkerConfig = z.infer<typeof hostWorkerConfigSchema> & {
  hostStateDir: string;
  volumesDir: string;
  apiUrl: string;
};

export const HOST_WORKER_CONFIG = Symbol('HOST_WORKER_CONFIG');

export function loadHostWorkerConfig(env: NodeJS.ProcessEnv = process.env): HostWorkerConfig {
  const cfg = loadConfig(checked as unknown as typeof hostWorkerConfigSchema, env);
  return {
    ...cfg,
    hostStateDir: resolve(
      cfg.QUIRE_HOST_STATE_DIR ?? join(cfg.QUIRE_STATE_DIR, 'host-worker', cfg.QUIRE_HOST_ID),
    ),
    volumesDir: resolve(cfg.QUIRE_VOLUMES_DIR ?? join(cfg.QUIRE_STATE_DIR, 'volumes')),
    apiUrl: cfg.QUIRE_HOST_WORKER_API_URL ?? `http://${cfg.QUIRE_BIND_HOST}:${cfg.QUIRE_HOST_WORKER_PORT}`,
  };
}
