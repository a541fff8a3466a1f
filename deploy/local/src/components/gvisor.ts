import { ensureDebianPackages } from '../installers';
import type { Component } from '../platform-context';
import { run } from '../process-supervisor';

/** gVisor's `runsc` from Debian. No daemon: host workers call it per sandbox. */
export const RUNSC_PATH = process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc';

export const gvisor: Component = {
  name: 'gvisor',
  title: 'gVisor runsc',
  ports: () => [],
  endpoint: () => RUNSC_PATH,

  async install(ctx) {
    await ensureDebianPackages(ctx, 'gVisor runsc', [{ name: 'runsc', provides: RUNSC_PATH }]);
  },
  async start() {},
  async stop() {},
  async ready() {
    try {
      const { stdout } = await run(RUNSC_PATH, ['--version'], { timeoutMs: 5000 });
      return stdout.includes('runsc version');
    } catch {
      return false;
    }
  },
};
