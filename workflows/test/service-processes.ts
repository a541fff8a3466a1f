import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '@quire/service-kit';

const REPO = resolve(__dirname, '..', '..');

/**
 * Quire services as real child processes (what `quire up` runs), so a test
 * can kill -9 one mid-operation and start it again on the same state.
 */
export class ServiceProcess {
  private proc?: ChildProcess;
  log = '';
  /** Also kept on disk (QUIRE_TEST_LOG_DIR, default the OS temp folder) for post-mortems. */
  readonly logFile: string | undefined;

  constructor(
    readonly name: string,
    readonly entry: string,
    readonly env: Record<string, string>,
    readonly readyUrl: string,
  ) {
    const dir = process.env.QUIRE_TEST_LOG_DIR ?? join(tmpdir(), 'quire-test-logs');
    mkdirSync(dir, { recursive: true });
    this.logFile = join(dir, `${name}-${process.pid}.log`);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(timeoutMs = 90_000): Promise<void> {
    this.proc = spawn(
      process.execPath,
      ['--enable-source-maps', '-r', '@swc-node/register', join(REPO, this.entry)],
      {
        cwd: REPO,
        env: { ...process.env, SWC_NODE_PROJECT: join(REPO, 'tsconfig.base.json'), ...this.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const keep = (d: Buffer) => {
      this.log = (this.log + d.toString('utf8')).slice(-200_000);
      if (this.logFile) appendFileSync(this.logFile, d);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null)
        throw new Error(`${this.name} exited at start: ${this.log.slice(-3000)}`);
      try {
        const res = await fetch(this.readyUrl, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${this.name} not ready after ${timeoutMs} ms: ${this.log.slice(-3000)}`);
  }

  /** kill -9: no graceful shutdown, as in a crash. */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((r) => {
      const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
      p.once('exit', () => {
        clearTimeout(t);
        r();
      });
      p.kill('SIGTERM');
    });
  }
}

export interface HostProcess {
  hostId: string;
  apiUrl: string;
  stateDir: string;
  proc: ServiceProcess;
}

export async function hostWorkerProcess(
  hostId: string,
  stateDir: string,
  env: Record<string, string> = {},
): Promise<HostProcess> {
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const proc = new ServiceProcess(
    hostId,
    'services/host-worker/src/main.ts',
    {
      QUIRE_HOST_ID: hostId,
      QUIRE_HOST_STATE_DIR: stateDir,
      QUIRE_HOST_WORKER_PORT: String(port),
      QUIRE_HOST_WORKER_API_URL: apiUrl,
      QUIRE_HEARTBEAT_INTERVAL_MS: '1000',
      QUIRE_WARM_POOL_SIZE: '0',
      QUIRE_LOG_LEVEL: 'warn',
      ...env,
    },
    `${apiUrl}/readyz`,
  );
  return { hostId, apiUrl, stateDir, proc };
}

export async function workflowWorkerProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  return new ServiceProcess(
    'workflow-worker',
    'workflows/src/worker/main.ts',
    { QUIRE_WORKER_HEALTH_PORT: String(port), QUIRE_LOG_LEVEL: 'warn', ...env },
    `http://127.0.0.1:${port}/readyz`,
  );
}

/** Sandboxes runsc knows under a host's state folder (what really holds memory on the machine). */
export function runscContainers(stateDir: string): { id: string; status: string }[] {
  const runsc = process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc';
  const r = spawnSync(runsc, ['--root', join(stateDir, 'runsc'), 'list', '--format=json'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return [];
  const list = JSON.parse(r.stdout || '[]') as { id: string; status: string }[] | null;
  return list ?? [];
}

/** Removes whatever a killed host worker left behind (test cleanup only). */
export function removeRunscContainers(stateDir: string): void {
  const runsc = process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc';
  for (const c of runscContainers(stateDir)) {
    spawnSync(runsc, ['--root', join(stateDir, 'runsc'), 'kill', c.id, 'KILL'], { stdio: 'ignore' });
    spawnSync(runsc, ['--root', join(stateDir, 'runsc'), 'delete', '-force', c.id], { stdio: 'ignore' });
  }
}
