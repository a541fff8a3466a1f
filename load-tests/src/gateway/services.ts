import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  startServiceProcess,
  stopServiceProcess,
  type ServiceProcessOptions,
} from '@quire/service-kit';

/** Quire's services for the benchmark, each its own process from its own entry point (as `quire` runs them). */
function startService(name: string, entry: string, port: number, env: Record<string, string>) {
  const opts: ServiceProcessOptions = {
    name: `bench-gw-${name}`,
    entry,
    port,
    env: { QUIRE_LOG_LEVEL: 'warn', ...env },
    readyPath: '/healthz',
    readyPollMs: 200,
    readyTimeoutMs: 120_000,
    sourceMaps: false, // as in production: no source-mapped stack traces slowing the measured services
    killWithParent: true,
  };
  return startServiceProcess(opts);
}

/** doc-sync, one host worker (gVisor kernels) and a gateway that uses that host directly. */
export async function startQuire(): Promise<{
  gateway: { base: string };
  host: { base: string };
  stop: () => Promise<void>;
}> {
  const [docPort, hostPort, gwPort] = [await freePort(), await freePort(), await freePort()];
  const hostState = mkdtempSync(join(tmpdir(), 'quire-bench-gw-host-'));
  const [docSync, host] = await Promise.all([
    startService('doc-sync', 'services/doc-sync/src/main.ts', docPort, {
      QUIRE_DOC_SYNC_PORT: String(docPort),
    }),
    startService('host-worker', 'services/host-worker/src/main.ts', hostPort, {
      QUIRE_HOST_WORKER_PORT: String(hostPort),
      QUIRE_HOST_ID: `bench-gw-${hostPort}`,
      QUIRE_HOST_STATE_DIR: hostState,
      QUIRE_WARM_POOL_SIZE: '0',
    }),
  ]);
  const gateway = await startService('gateway', 'services/gateway/src/main.ts', gwPort, {
    QUIRE_GATEWAY_PORT: String(gwPort),
    QUIRE_DOC_SYNC_URL: docSync.url,
    QUIRE_KERNEL_PROVIDER: 'direct',
    QUIRE_HOST_WORKER_URL: host.url,
  });
  return {
    gateway: { base: gateway.url },
    host: { base: host.url },
    stop: async () => {
      await stopServiceProcess(gateway, 'SIGTERM', 10_000);
      await Promise.all([
        stopServiceProcess(docSync, 'SIGTERM', 10_000),
        stopServiceProcess(host, 'SIGTERM', 10_000),
      ]);
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
