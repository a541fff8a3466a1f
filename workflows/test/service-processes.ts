import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  freePort,
  restartServiceProcess,
  startServiceProcess,
  stopServiceProcess,
  type ServiceProcess as Spawned,
} from '@quire/service-kit';

/**
 * Quire services as real child processes (what `quire up` runs), so a test
 * can kill -9 one mid-operation and start it again on the same state.
 * Logs are kept on disk (QUIRE_TEST_LOG_DIR, default the OS temp folder) for post-mortems.
 */
export class ServiceProcess {
  private proc?: Spawned;

  constructor(
    readonly name: string,
    readonly entry: string,
    readonly env: Record<string, string>,
    /** Base URL; ready when `${base}/readyz` answers 2xx. */
    readonly base: string,
  ) {}

  get pid(): number | undefined {
    return this.proc?.child.pid;
  }

  get logFile(): string | undefined {
    return this.proc?.logFile;
  }

  /** Starts it (again, after a stop or kill -9: same port, environment and log file). */
  async start(timeoutMs = 90_000): Promise<void> {
    if (this.proc) return restartServiceProcess(this.proc, timeoutMs);
    this.proc = await startServiceProcess({
      name: this.name,
      entry: this.entry,
      url: this.base,
      env: this.env,
      readyTimeoutMs: timeoutMs,
      probeTimeoutMs: 1000,
    });
  }

  /** kill -9: no graceful shutdown, as in a crash. */
  async kill9(): Promise<void> {
    await stopServiceProcess(this.proc, 'SIGKILL', null);
  }

  async stop(): Promise<void> {
    await stopServiceProcess(this.proc, 'SIGTERM', 30_000);
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
    apiUrl,
  );
  return { hostId, apiUrl, stateDir, proc };
}

export async function workflowWorkerProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  return new ServiceProcess(
    'workflow-worker',
    'workflows/src/worker/main.ts',
    { QUIRE_WORKER_HEALTH_PORT: String(port), QUIRE_LOG_LEVEL: 'warn', ...env },
    `http://127.0.0.1:${port}`,
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

/**
 * Removes whatever a killed host worker left behind (test cleanup only): its
 * sandboxes, and the `null-netns` bind mount a current runsc makes inside its
 * --root when no --shared-root is set (so the folder can be deleted: EBUSY otherwise).
 */
export function removeRunscContainers(stateDir: string): void {
  const runsc = process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc';
  for (const c of runscContainers(stateDir)) {
    spawnSync(runsc, ['--root', join(stateDir, 'runsc'), 'kill', c.id, 'KILL'], { stdio: 'ignore' });
    spawnSync(runsc, ['--root', join(stateDir, 'runsc'), 'delete', '-force', c.id], { stdio: 'ignore' });
  }
  const root = join(resolve(stateDir), 'runsc');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && m.startsWith(`${root}/`));
  for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
}
