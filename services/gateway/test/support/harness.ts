import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { AuthResponse, NotebookSummary } from '@quire/contracts';
import type { Pool } from 'pg';
import {
  bootstrapService,
  createPostgresPool,
  freePort,
  platformVar,
  spawnServiceProcess,
  stopServiceProcess,
  waitUntilReady,
  type ServiceProcess as Spawned,
} from '@quire/service-kit';

/**
 * Real services for the gateway's integration tests: doc-sync and a host
 * worker as child processes (their own entry points, as `quire` runs them),
 * the gateway in-process.
 */
export class ServiceProcess {
  private readonly proc: Spawned;

  constructor(
    readonly name: string,
    entry: string,
    env: Record<string, string>,
    readonly base: string,
  ) {
    this.proc = spawnServiceProcess({
      name,
      entry,
      url: base,
      env: { QUIRE_LOG_LEVEL: 'warn', ...env },
      readyPath: '/healthz',
      readyPollMs: 200,
    });
  }

  get child() {
    return this.proc.child;
  }

  /** Its recent output lines. */
  get lines(): readonly string[] {
    return this.proc.lines;
  }

  async ready(timeoutMs = 60_000): Promise<this> {
    await waitUntilReady(this.proc, timeoutMs);
    return this;
  }

  async stop(): Promise<void> {
    await stopServiceProcess(this.proc, 'SIGTERM', 10_000);
  }
}

/**
 * A host worker whose sandboxes are removed when the test stops it: a host
 * worker leaves kernels running on shutdown (so a restarted one can adopt
 * them), which in a test would leak gVisor sandboxes.
 */
class HostProcess extends ServiceProcess {
  constructor(
    private readonly stateDir: string,
    name: string,
    entry: string,
    env: Record<string, string>,
    base: string,
  ) {
    super(name, entry, env, base);
  }

  override async stop(): Promise<void> {
    await super.stop();
    const runsc = process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc';
    const root = join(this.stateDir, 'runsc');
    const listed = spawnSync(runsc, ['--root', root, 'list', '--format=json'], { encoding: 'utf8' });
    if (listed.status !== 0) return;
    for (const c of (JSON.parse(listed.stdout || '[]') as { id: string }[] | null) ?? []) {
      spawnSync(runsc, ['--root', root, 'kill', c.id, 'KILL'], { stdio: 'ignore' });
      spawnSync(runsc, ['--root', root, 'delete', '-force', c.id], { stdio: 'ignore' });
    }
  }
}

export async function startDocSync(): Promise<ServiceProcess> {
  const port = await freePort();
  return new ServiceProcess(
    'doc-sync',
    'services/doc-sync/src/main.ts',
    { QUIRE_DOC_SYNC_PORT: String(port), QUIRE_INSTANCE_ID: `doc-sync-gw-it-${port}` },
    `http://127.0.0.1:${port}`,
  ).ready();
}

/** `env` adds to or overrides the host worker's settings (e.g. QUIRE_HOST_LABELS for placement). */
export async function startHostWorker(env: Record<string, string> = {}): Promise<ServiceProcess> {
  const port = await freePort();
  const stateDir = mkdtempSync(join(tmpdir(), 'quire-gw-host-'));
  return new HostProcess(
    stateDir,
    'host-worker',
    'services/host-worker/src/main.ts',
    {
      QUIRE_HOST_WORKER_PORT: String(port),
      QUIRE_HOST_ID: `gw-it-host-${port}`,
      QUIRE_HOST_STATE_DIR: stateDir,
      QUIRE_HEARTBEAT_INTERVAL_MS: '1000',
      QUIRE_WARM_POOL_SIZE: '0',
      ...env,
    },
    `http://127.0.0.1:${port}`,
  ).ready(120_000);
}

export interface GatewayUnderTest {
  app: INestApplication;
  base: string;
  port: number;
  close(): Promise<void>;
}

export async function bootGateway(env: Record<string, string>): Promise<GatewayUnderTest> {
  const port = await freePort();
  Object.assign(process.env, { QUIRE_GATEWAY_PORT: String(port), ...env });
  const app = await bootstrapService({
    service: 'gateway-it',
    loadModule: async () => (await import('../../src/app.module')).AppModule,
    port,
    host: '127.0.0.1',
    logLevel: 'error',
  });
  return { app, port, base: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/**
 * doc-sync plus the gateway with no kernel host (kernel routes answer 503 to
 * allowed callers): for the API, access and org tests.
 */
export async function bootApiGateway(): Promise<{ gw: GatewayUnderTest; docSync: ServiceProcess }> {
  const docSync = await startDocSync();
  const gw = await bootGateway({
    QUIRE_DOC_SYNC_URL: docSync.base,
    QUIRE_KERNEL_PROVIDER: 'direct',
    QUIRE_HOST_WORKER_URL: 'http://127.0.0.1:9',
    // Nor an agent service or gpu-scheduler: their routes answer 503 agent/gpu.unavailable.
    QUIRE_AGENT_URL: 'http://127.0.0.1:9',
    QUIRE_GPU_SCHEDULER_URL: 'http://127.0.0.1:9',
  });
  return { gw, docSync };
}

/** A small pool on the platform's PostgreSQL, for a test that looks at the gateway's tables. */
export function testPool(applicationName: string): Pool {
  return createPostgresPool(
    { QUIRE_POSTGRES_URL: platformVar('QUIRE_POSTGRES_URL'), QUIRE_POSTGRES_POOL_SIZE: 2 },
    applicationName,
  );
}

let counter = 0;
export function uniqueEmail(tag: string): string {
  return `${tag}-${Date.now().toString(36)}-${counter++}@example.test`;
}

export async function api<T = unknown>(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; raw?: boolean } = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

export async function signup(base: string, tag: string, orgName?: string): Promise<AuthResponse> {
  const r = await api<AuthResponse>(base, 'POST', '/api/auth/signup', {
    body: {
      email: uniqueEmail(tag),
      name: tag,
      password: 'correct horse battery',
      ...(orgName ? { orgName } : {}),
    },
  });
  if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function createNotebook(base: string, token: string, title = 'Test'): Promise<NotebookSummary> {
  const r = await api<NotebookSummary>(base, 'POST', '/api/notebooks', { token, body: { title } });
  if (r.status !== 201) throw new Error(`create notebook failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A second user in the same org, through an invitation. */
export async function joinOrg(base: string, adminToken: string, tag: string): Promise<AuthResponse> {
  const inv = await api<{ invite: string }>(base, 'POST', '/api/org/invites', { token: adminToken });
  if (inv.status !== 201) throw new Error(`invite failed: ${inv.status} ${JSON.stringify(inv.body)}`);
  const r = await api<AuthResponse>(base, 'POST', '/api/auth/signup', {
    body: { email: uniqueEmail(tag), name: tag, password: 'correct horse battery', invite: inv.body.invite },
  });
  if (r.status !== 201) throw new Error(`signup with invite failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The workflow worker process (lifecycle workflows and activities) on a task queue of the test's own. */
export async function startWorkflowWorker(
  taskQueue: string,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  return new ServiceProcess(
    'workflow-worker',
    'workflows/src/worker/main.ts',
    {
      QUIRE_WORKER_HEALTH_PORT: String(port),
      QUIRE_LIFECYCLE_TASK_QUEUE: taskQueue,
      QUIRE_WARM_POOL_AUTOSCALE_INTERVAL_MS: '0',
      ...env,
    },
    `http://127.0.0.1:${port}`,
  ).ready(180_000);
}
