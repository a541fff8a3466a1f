import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startSupervised } from '../component-runner';
import { goInstall } from '../installers';
import type { Component, PlatformContext } from '../platform-context';
import { run } from '../process-supervisor';

/**
 * Temporal's dev server from the `temporal` CLI built from the Go module proxy
 * (v1.5.1 is the newest that `go install` can build). SQLite file persistence in
 * the state folder, so workflows and their timers survive a restart.
 */
const MODULE = 'github.com/temporalio/cli/cmd/temporal';

export function temporalBinary(ctx: PlatformContext): string {
  return join(ctx.config.cacheDir, 'bin', `temporal-${ctx.config.versions.temporalCli}`, 'temporal');
}

/** Arguments of `temporal server start-dev` for one server; shared with tests that run their own. */
export function temporalServerArgs(opts: {
  host: string;
  port: number;
  uiPort?: number;
  dbFile: string;
}): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    opts.host,
    '--port',
    String(opts.port),
    ...(opts.uiPort ? ['--ui-port', String(opts.uiPort), '--ui-ip', opts.host] : ['--headless']),
    '--db-filename',
    opts.dbFile,
    '--namespace',
    'default',
    '--log-level',
    'warn',
  ];
}

export const temporal: Component = {
  name: 'temporal',
  title: 'Temporal server',
  ports: (ctx) => [ctx.config.ports.temporal, ctx.config.ports.temporalUi],
  endpoint: (ctx) => `${ctx.config.bindHost}:${ctx.config.ports.temporal}`,

  async install(ctx) {
    await goInstall(ctx, 'Temporal server', MODULE, ctx.config.versions.temporalCli, 'temporal');
  },

  async start(ctx) {
    const dir = join(ctx.config.stateDir, 'temporal');
    mkdirSync(dir, { recursive: true });
    await startSupervised(
      ctx,
      this,
      () =>
        ctx.supervisor.start(
          this.name,
          temporalBinary(ctx),
          temporalServerArgs({
            host: ctx.config.bindHost,
            port: ctx.config.ports.temporal,
            uiPort: ctx.config.ports.temporalUi,
            dbFile: join(dir, 'temporal.db'),
          }),
        ),
      {
        readyTimeoutMs: 60_000,
        portEnv: {
          [ctx.config.ports.temporal]: 'QUIRE_TEMPORAL_PORT',
          [ctx.config.ports.temporalUi]: 'QUIRE_TEMPORAL_UI_PORT',
        },
      },
    );
  },

  async stop(ctx) {
    await ctx.supervisor.stop(this.name);
  },

  async ready(ctx) {
    return temporalHealthy(temporalBinary(ctx), this.endpoint(ctx));
  },
};

export async function temporalHealthy(binary: string, address: string): Promise<boolean> {
  try {
    const { stdout } = await run(
      binary,
      ['operator', 'cluster', 'health', '--address', address, '--command-timeout', '2s'],
      {
        timeoutMs: 5000,
      },
    );
    return stdout.includes('SERVING');
  } catch {
    return false;
  }
}
