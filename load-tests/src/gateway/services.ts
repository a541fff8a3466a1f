import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../lib/kernel-sandboxes';
import { sleep } from '../lib/stats';

/** Quire's services for the benchmark, each its own process from its own entry point (as `quire` runs them). */
export class ServiceChild {
  private readonly child: ChildProcess;
  private tail = '';

  constructor(
    readonly name: string,
    entry: string,
    env: Record<string, string>,
    readonly base: string,
  ) {
    this.child = spawn(process.execPath, ['-r', '@swc-node/register', join(REPO_ROOT, entry)], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        SWC_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.base.json'),
        QUIRE_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => (this.tail = (this.tail + d.toString('utf8')).slice(-4000));
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    process.once('exit', () => this.child.kill('SIGKILL'));
  }

  async ready(timeoutMs = 120_000): Promise<this> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`${this.name} exited:\n${this.tail}`);
      try {
        if ((await fetch(`${this.base}/healthz`)).ok) return this;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`${this.name} not up in time:\n${this.tail}`);
      await sleep(200);
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** doc-sync, one host worker (gVisor kernels) and a gateway that uses that host directly. */
export async function startQuire(): Promise<{
  gateway: ServiceChild;
  host: ServiceChild;
  stop: () => Promise<void>;
}> {
  const [docPort, hostPort, gwPort] = [await freePort(), await freePort(), await freePort()];
  const hostState = mkdtempSync(join(tmpdir(), 'quire-bench-gw-host-'));
  const docSync = new ServiceChild(
    'doc-sync',
    'services/doc-sync/src/main.ts',
    { QUIRE_DOC_SYNC_PORT: String(docPort) },
    `http://127.0.0.1:${docPort}`,
  );
  const host = new ServiceChild(
    'host-worker',
    'services/host-worker/src/main.ts',
    {
      QUIRE_HOST_WORKER_PORT: String(hostPort),
      QUIRE_HOST_ID: `bench-gw-${hostPort}`,
      QUIRE_HOST_STATE_DIR: hostState,
      QUIRE_WARM_POOL_SIZE: '0',
    },
    `http://127.0.0.1:${hostPort}`,
  );
  await Promise.all([docSync.ready(), host.ready()]);
  const gateway = await new ServiceChild(
    'gateway',
    'services/gateway/src/main.ts',
    {
      QUIRE_GATEWAY_PORT: String(gwPort),
      QUIRE_DOC_SYNC_URL: docSync.base,
      QUIRE_KERNEL_PROVIDER: 'direct',
      QUIRE_HOST_WORKER_URL: host.base,
    },
    `http://127.0.0.1:${gwPort}`,
  ).ready();
  return {
    gateway,
    host,
    stop: async () => {
      await gateway.stop();
      await Promise.all([docSync.stop(), host.stop()]);
      removeSandboxes(hostState);
    },
  };
}

/** A host worker leaves its kernels running on shutdown (for re-adoption); the benchmark removes them. */
function removeSandboxes(stateDir: string): void {
  const runsc = process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc';
  const root = join(stateDir, 'runsc');
  const listed = spawnSync(runsc, ['--root', root, 'list', '--format=json'], { encoding: 'utf8' });
  if (listed.status !== 0) return;
  for (const c of (JSON.parse(listed.stdout || '[]') as { id: string }[] | null) ?? []) {
    spawnSync(runsc, ['--root', root, 'kill', c.id, 'KILL'], { stdio: 'ignore' });
    spawnSync(runsc, ['--root', root, 'delete', '-force', c.id], { stdio: 'ignore' });
  }
}
