import { chownSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { startSupervised } from '../component-runner';
import { ensureDebianPackages, isRoot } from '../installers';
import type { Component, PlatformContext } from '../platform-context';
import { run } from '../process-supervisor';
import { PlatformError, step } from '../progress';
import { osUser } from './os-user';

/** PostgreSQL from Debian's package, one cluster in the state folder, run as the `postgres` user when we are root. */
function pgBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : undefined;
}

const dataDir = (ctx: PlatformContext) => join(ctx.config.stateDir, 'postgres', 'data');
const socketDir = (ctx: PlatformContext) => join(ctx.config.stateDir, 'postgres', 'run');

function client(ctx: PlatformContext, database: string): Client {
  return new Client({
    host: ctx.config.bindHost,
    port: ctx.config.ports.postgres,
    user: ctx.creds.postgresUser,
    password: ctx.creds.postgresPassword,
    database,
    connectionTimeoutMillis: 2000,
  });
}

export const postgres: Component = {
  name: 'postgres',
  title: 'PostgreSQL',
  ports: (ctx) => [ctx.config.ports.postgres],
  endpoint: (ctx) =>
    `postgres://${ctx.config.bindHost}:${ctx.config.ports.postgres}/${ctx.config.postgresDatabase}`,

  async install(ctx) {
    if (pgBinDir()) return;
    await ensureDebianPackages(ctx, 'PostgreSQL', [{ name: 'postgresql', provides: '/usr/lib/postgresql' }]);
    if (!pgBinDir())
      throw new PlatformError(
        'PostgreSQL',
        'server binaries not found after install',
        'apt-get install postgresql',
      );
  },

  async start(ctx) {
    const bin = pgBinDir();
    if (!bin) throw new PlatformError('PostgreSQL', 'not installed', 'run `npm run quire -- install`');
    const runAs = isRoot() ? osUser('postgres') : undefined;
    const owned = (dir: string) => {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (runAs) chownSync(dir, runAs.uid, runAs.gid);
    };
    if (!existsSync(join(dataDir(ctx), 'PG_VERSION'))) {
      await step('create the PostgreSQL cluster', async () => {
        rmSync(dataDir(ctx), { recursive: true, force: true });
        owned(join(ctx.config.stateDir, 'postgres'));
        owned(dataDir(ctx));
        const pwfile = join(ctx.config.stateDir, 'postgres', 'initdb.pw');
        writeFileSync(pwfile, ctx.creds.postgresPassword, { mode: 0o600 });
        if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
        try {
          await run(
            join(bin, 'initdb'),
            [
              '-D',
              dataDir(ctx),
              '-U',
              ctx.creds.postgresUser,
              `--pwfile=${pwfile}`,
              '--auth=scram-sha-256',
              '-E',
              'UTF8',
              '--no-locale',
            ],
            {
              ...(runAs ?? {}),
            },
          );
        } catch (err) {
          throw new PlatformError(
            'PostgreSQL',
            `initdb failed: ${(err as Error).message}`,
            'check permissions of the state folder',
          );
        } finally {
          rmSync(pwfile, { force: true });
        }
      });
    }
    owned(socketDir(ctx));
    await startSupervised(
      ctx,
      this,
      () =>
        ctx.supervisor.start(
          this.name,
          join(bin, 'postgres'),
          [
            '-D',
            dataDir(ctx),
            '-p',
            String(ctx.config.ports.postgres),
            '-c',
            `listen_addresses=${ctx.config.bindHost}`,
            '-c',
            `unix_socket_directories=${socketDir(ctx)}`,
            '-c',
            'max_connections=300',
          ],
          runAs ?? {},
        ),
      { readyTimeoutMs: 60_000, portEnv: { [ctx.config.ports.postgres]: 'QUIRE_POSTGRES_PORT' } },
    );
    // The application database.
    const c = client(ctx, 'postgres');
    await c.connect();
    try {
      const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [
        ctx.config.postgresDatabase,
      ]);
      if (!rowCount) await c.query(`CREATE DATABASE "${ctx.config.postgresDatabase}"`);
    } finally {
      await c.end();
    }
  },

  async stop(ctx) {
    // SIGINT = PostgreSQL's "fast" shutdown: ends sessions, checkpoints, exits.
    const pid = ctx.supervisor.pid(this.name);
    if (pid) {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        /* gone */
      }
    }
    await ctx.supervisor.stop(this.name, 30_000);
  },

  async ready(ctx) {
    const c = client(ctx, 'postgres');
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  },
};
