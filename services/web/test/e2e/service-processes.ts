import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

/**
 * The real Quire services an end-to-end test needs, each its own process
 * (started from TypeScript source like the launcher does), on free ports,
 * against the platform `quire test` started (QUIRE_* variables). Separate
 * processes so a test can kill -9 and restart one (doc-sync) mid-run.
 */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');

// The web project depends on contracts only (lint), so these two small helpers are
// local copies of service-kit's testing helpers.
export function platformVar(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the end-to-end tests through \`npm test\` (quire test)`);
  return v;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok, fail) => {
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', ok);
  });
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

export interface ServiceProcess {
  name: string;
  url: string;
  port: number;
  child: ChildProcess;
  logFile: string;
  env: Record<string, string>;
  entry: string;
}

export async function startService(
  name: string,
  entry: string,
  port: number,
  env: Record<string, string>,
  logDir: string,
): Promise<ServiceProcess> {
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const svc: ServiceProcess = {
    name,
    url: `http://127.0.0.1:${port}`,
    port,
    child: null as unknown as ChildProcess,
    logFile,
    env,
    entry,
  };
  await launch(svc);
  return svc;
}

async function launch(svc: ServiceProcess): Promise<void> {
  const out = createWriteStream(svc.logFile, { flags: 'a' });
  const child = spawn(
    process.execPath,
    ['--enable-source-maps', '-r', '@swc-node/register', join(REPO_ROOT, svc.entry)],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ...svc.env,
        SWC_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.base.json'),
        NODE_ENV: 'development',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  svc.child = child;
  await waitReady(svc);
}

export async function waitReady(svc: ServiceProcess, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (svc.child.exitCode !== null) {
      throw new Error(
        `${svc.name} exited with ${svc.child.exitCode} before it was ready; see ${svc.logFile}`,
      );
    }
    try {
      const res = await fetch(`${svc.url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${svc.name} not ready after ${timeoutMs / 1000} s; see ${svc.logFile}`);
}

/** Stops it (kill -9 by default), then starts it again on the same port with the same environment. */
export async function crashAndRestart(
  svc: ServiceProcess,
  downMs = 0,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<void> {
  await stopService(svc, signal);
  if (downMs) await new Promise((r) => setTimeout(r, downMs));
  await launch(svc);
}

export async function stopService(svc: ServiceProcess | undefined, signal: NodeJS.Signals = 'SIGTERM') {
  if (!svc || svc.child.exitCode !== null || svc.child.signalCode !== null) return;
  const exited = new Promise((r) => svc.child.once('exit', r));
  svc.child.kill(signal);
  const timer = setTimeout(() => svc.child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
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
  const hostWorker = await startService(
    'host-worker',
    'services/host-worker/src/main.ts',
    hwPort,
    {
      QUIRE_HOST_WORKER_PORT: String(hwPort),
      QUIRE_HOST_ID: `e2e-web-${opts.runId}`,
      QUIRE_HOST_STATE_DIR: join(logDir, 'host'),
      QUIRE_HOST_WORKER_API_URL: `http://127.0.0.1:${hwPort}`,
      QUIRE_WARM_POOL_SIZE: '1',
    },
    logDir,
  );
  const docSync = await startDocSync(dsPort, gatewayOrigin, logDir);
  const gateway = await startService(
    'gateway',
    'services/gateway/src/main.ts',
    gwPort,
    {
      QUIRE_GATEWAY_PORT: String(gwPort),
      QUIRE_DOC_SYNC_URL: `http://127.0.0.1:${dsPort}`,
      QUIRE_KERNEL_PROVIDER: 'direct',
      QUIRE_HOST_WORKER_URL: `http://127.0.0.1:${hwPort}`,
      QUIRE_WEB_DIST: opts.webDist,
      QUIRE_PUBLIC_URL: gatewayOrigin,
    },
    logDir,
  );
  return {
    gateway,
    docSync,
    hostWorker,
    async stop() {
      await stopService(gateway);
      await stopService(docSync);
      await stopService(hostWorker);
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
    for (const svc of started.reverse()) await stopService(svc);
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
      startService(
        'host-worker',
        'services/host-worker/src/main.ts',
        hwPort,
        {
          QUIRE_HOST_WORKER_PORT: String(hwPort),
          QUIRE_HOST_ID: `e2e-web-lc-${opts.runId}`,
          QUIRE_HOST_STATE_DIR: hostStateDir,
          QUIRE_HOST_WORKER_API_URL: `http://127.0.0.1:${hwPort}`,
          QUIRE_HOST_LABELS: runLabel,
          QUIRE_HEARTBEAT_INTERVAL_MS: '1000',
          QUIRE_WARM_POOL_SIZE: '1',
        },
        logDir,
      ).then((s) => (started.push(s), s)),
      startDocSync(dsPort, gatewayOrigin, logDir).then((s) => (started.push(s), s)),
    ]);
    const gateway = await startService(
      'gateway',
      'services/gateway/src/main.ts',
      gwPort,
      {
        QUIRE_GATEWAY_PORT: String(gwPort),
        QUIRE_DOC_SYNC_URL: `http://127.0.0.1:${dsPort}`,
        QUIRE_KERNEL_PROVIDER: 'lifecycle',
        QUIRE_LIFECYCLE_TASK_QUEUE: taskQueue,
        QUIRE_LIFECYCLE_POLICY_JSON: JSON.stringify(opts.policy),
        QUIRE_LIFECYCLE_PLACEMENT_LABELS: runLabel,
        QUIRE_WEB_DIST: opts.webDist,
        QUIRE_PUBLIC_URL: gatewayOrigin,
      },
      logDir,
    );
    started.push(gateway);
    return {
      gateway,
      docSync,
      hostWorker,
      workflowWorker,
      hostStateDir,
      taskQueue,
      async stop() {
        await stopService(gateway);
        await stopService(workflowWorker);
        await stopService(docSync);
        await stopService(hostWorker);
        rmSync(hostStateDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    // A service that failed to start must not leave the others running.
    await stopAll();
    throw err;
  }
}
