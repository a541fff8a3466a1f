import { ensureDebianPackages } from '../installers';
import type { Component } from '../platform-context';
import { run } from '../process-supervisor';

/**
 * A Compose client, for the test that checks deploy/docker-compose.yml with
 * `docker compose config` (no engine needed). Uses the Docker CLI's compose
 * plugin when present, else Debian's docker-compose.
 */
export async function composeCommand(): Promise<string[] | undefined> {
  try {
    await run('docker', ['compose', 'version'], { timeoutMs: 10_000 });
    return ['docker', 'compose'];
  } catch {
    try {
      await run('docker-compose', ['version'], { timeoutMs: 10_000 });
      return ['docker-compose'];
    } catch {
      return undefined;
    }
  }
}

export const composeCli: Component = {
  name: 'compose-cli',
  title: 'Compose CLI (config checks)',
  ports: () => [],
  endpoint: () => 'docker compose / docker-compose',
  async install(ctx) {
    if (await composeCommand()) return;
    await ensureDebianPackages(ctx, 'Compose CLI', [
      { name: 'docker-compose', provides: '/usr/bin/docker-compose' },
    ]);
  },
  async start() {},
  async stop() {},
  async ready() {
    return (await composeCommand()) !== undefined;
  },
};
