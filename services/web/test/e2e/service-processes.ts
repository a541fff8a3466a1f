import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  freePort,
  platformVar,
  startServiceProcess,
  stopServiceProcess,
  type ServiceProcess,
} from '@quire/service-kit';

/**
 * The real Quire services an end-to-end test needs, each its own process
 * (started from TypeScript source like the launcher does), on free ports,
 * against the platform `quire test` started (QUIRE_* variables). Separate
 * processes so a test can kill -9 and restart one (doc-sync) mid-run.
 */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');

export { crashAndRestart, platformVar, type ServiceProcess } from '@quire/service-kit';

/** One service of a stack: development mode, logs in the stack's folder, up to 120 s to become ready. */
function startService(
  name: string,
  entry: string,
  port: number,
  env: Record<string, string>,
  logDir: string,
): Promise<ServiceProcess> {
  return startServiceProcess({
    name,
    entry,
    port,
    env: { ...env, NODE_ENV: 'development' },
    logDir,
    readyTimeoutMs: 120_000,
    readyPollMs: 300,
  });
}

/** doc-sync for a stack whose browser pages come from `gatewayOrigin` (no doc.v1 events: nobody consumes them here). */
function startDocSync(port: number, gatewayOrigin: string, logDir: string): Promise<ServiceProcess> {
  return startService(
    'doc-sync',
    'services/doc-sync/src/main.ts',
    port,
    {
      QUIRE_DOC_SYNC_PORT: String(port),
      QUIRE_ALLOWED_ORIGINS: gatewayOrigin,
      QUIRE_DOC_SYNC_PUBLISH: 'false',
    },
    logDir,
  );
}

/** A host worker for a stack, one warm sandbox; `env` adds to or overrides its settings. */
function startHostWorker(
  port: number,
  hostId: string,
  stateDir: string,
  logDir: string,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  return startService(
    'host-worker',
    'services/host-worker/src/main.ts',
    port,
    {
      QUIRE_HOST_WORKER_PORT: String(port),
      QUIRE_HOST_ID: hostId,
      QUIRE_HOST_STATE_DIR: stateDir,
      QUIRE_HOST_WORKER_API_URL: `http://127.0.0.1:${port}`,
      QUIRE_WARM_POOL_SIZE: '1',
      ...env,
    },
    logDir,
  );
}

/** The gateway serving the web build `webDist` at its own origin; `env` picks the kernel provider. */
function startGateway(
  port: number,
  docSyncPort: number,
  webDist: string,
  logDir: string,
  env: Record<string, string>,
): Promise<ServiceProcess> {
  return startService(
    'gateway',
    'services/gateway/src/main.ts',
    port,
    {
      QUIRE_GATEWAY_PORT: String(port),
      QUIRE_DOC_SYNC_URL: `http://127.0.0.1:${docSyncPort}`,
      QUIRE_WEB_DIST: webDist,
      QUIRE_PUBLIC_URL: `http://127.0.0.1:${port}`,
      ...env,
    },
    logDir,
  );
}

export interface EditorStack {
  gateway: ServiceProcess;
  docSync: ServiceProcess;
  hostWorker: ServiceProcess;
  stop(): Promise<void>;
}

/**
 * host worker + doc-sync + gateway (direct kernel provider: one host worker),
 * the gateway serving the web build in `webDist`.
 */
export async function startEditorStack(opts: { webDist: string; runId: string }): Promise<EditorStack> {
  platformVar('QUIRE_POSTGRES_URL');
  const logDir = join(platformVar('QUIRE_STATE_DIR'), 'e2e-web', opts.runId);
  const [gwPort, dsPort, hwPort] = [await freePort(), await freePort(), await freePort()];
  const gatewayOrigin = `http://127.0.0.1:${gwPort}`;
  const hostWorker = await startHostWorker(hwPort, `e2e-web-${opts.runId}`, join(logDir, 'host'), logDir);
  const docSync = await startDocSync(dsPort, gatewayOrigin, logDir);
  const gateway = await startGateway(gwPort, dsPort, opts.webDist, logDir, {
    QUIRE_KERNEL_PROVIDER: 'direct',
    QUIRE_HOST_WORKER_URL: `http://127.0.0.1:${hwPort}`,
  });
  return {
    gateway,
    docSync,
    hostWorker,
    async stop() {
      await stopServiceProcess(gateway);
      await stopServiceProcess(docSync);
      await stopServiceProcess(hostWorker);
      // Keep the logs; drop the host's kernel state (checkpoint images of hibernated kernels).
      rmSync(join(logDir, 'host'), { recursive: true, force: true });
    },
  };
}

export interface LifecycleEditorStack extends EditorStack {
  /** The workflow worker (kernelLifecycle workflows + activities, placement, Kafka → Temporal bridge). */
  workflowWorker: ServiceProcess;
  /** The host worker's state folder (its runsc root is `runsc/` in it). */
  hostStateDir: string;
  /** This stack's lifecycle task queue: its workflows run only on its own worker. */
  taskQueue: string;
}

/**
 * The production kernel path for an end-to-end test: host worker + doc-sync +
 * the workflow worker + gateway with QUIRE_KERNEL_PROVIDER=lifecycle, the
 * lifecycle policy shortened by the gateway's operator override (`policy`).
 * Isolated from other suites on the same Kafka and Temporal: a task queue of
 * its own, and a run label the gateway requires of hosts so its kernels are
 * only placed on this stack's host worker.
 */
export async function startLifecycleEditorStack(opts: {
  webDist: string;
  runId: string;
  policy: Record<string, number | null>;
}): Promise<LifecycleEditorStack> {
  platformVar('QUIRE_POSTGRES_URL');
  platformVar('QUIRE_TEMPORAL_ADDRESS');
  const logDir = join(platformVar('QUIRE_STATE_DIR'), 'e2e-web-lifecycle', opts.runId);
  const hostStateDir = join(logDir, 'host');
  const [gwPort, dsPort, hwPort, wwPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const gatewayOrigin = `http://127.0.0.1:${gwPort}`;
  const taskQueue = `e2e-web-lifecycle-${opts.runId}`;
  const runLabel = `e2erun=${opts.runId}`;
  const started: ServiceProcess[] = [];
  const stopAll = async () => {
    for (const svc of started.reverse()) await stopServiceProcess(svc);
  };
  try {
    // The workflow worker bundles the workflow code at start (the slow part): in parallel with the rest.
    const [workflowWorker, hostWorker, docSync] = await Promise.all([
      startService(
        'workflow-worker',
        'workflows/src/worker/main.ts',
        wwPort,
        {
          QUIRE_WORKER_HEALTH_PORT: String(wwPort),
          QUIRE_LIFECYCLE_TASK_QUEUE: taskQueue,
          QUIRE_LIFECYCLE_BRIDGE_GROUP: `e2e-web-lifecycle-bridge-${opts.runId}`,
          QUIRE_INSTANCE_ID: `e2e-web-lifecycle-${opts.runId}`,
          // This stack sizes its host's pool itself (the autoscaler has its own test).
          QUIRE_WARM_POOL_AUTOSCALE_INTERVAL_MS: '0',
          QUIRE_LOG_LEVEL: 'warn',
        },
        logDir,
      ).then((s) => (started.push(s), s)),
      startHostWorker(hwPort, `e2e-web-lc-${opts.runId}`, hostStateDir, logDir, {
        QUIRE_HOST_LABELS: runLabel,
        QUIRE_HEARTBEAT_INTERVAL_MS: '1000',
      }).then((s) => (started.push(s), s)),
      startDocSync(dsPort, gatewayOrigin, logDir).then((s) => (started.push(s), s)),
    ]);
    const gateway = await startGateway(gwPort, dsPort, opts.webDist, logDir, {
      QUIRE_KERNEL_PROVIDER: 'lifecycle',
      QUIRE_LIFECYCLE_TASK_QUEUE: taskQueue,
      QUIRE_LIFECYCLE_POLICY_JSON: JSON.stringify(opts.policy),
      QUIRE_LIFECYCLE_PLACEMENT_LABELS: runLabel,
    });
    started.push(gateway);
    return {
      gateway,
      docSync,
      hostWorker,
      workflowWorker,
      hostStateDir,
      taskQueue,
      async stop() {
        await stopServiceProcess(gateway);
        await stopServiceProcess(workflowWorker);
        await stopServiceProcess(docSync);
        await stopServiceProcess(hostWorker);
        removeHostState(hostStateDir);
      },
    };
  } catch (err) {
    // A service that failed to start must not leave the others running.
    await stopAll();
    throw err;
  }
}

/**
 * Removes a host worker's state folder. A current runsc bind-mounts a
 * `null-netns` file inside its --root (runsc/ in it) when no --shared-root is
 * set: unmounted first, or the removal fails with EBUSY.
 */
function removeHostState(dir: string): void {
  const base = resolve(dir);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && m.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
