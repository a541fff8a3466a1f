import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebianPackages, markerMatches, writeMarker } from '../installers';
import type { Component, PlatformContext } from '../platform-context';
import { run, runLogged } from '../process-supervisor';
import { PlatformError, step } from '../progress';

/**
 * The Python kernel environment (ipykernel, numpy, pandas, matplotlib, pyarrow,
 * duckdb from PyPI), built with Debian's /usr/bin/python3 so that a sandbox needs
 * only the image's /usr plus this folder.
 */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export const kernelEnvDir = (ctx: PlatformContext) => join(ctx.config.cacheDir, 'kernel-env');
const requirementsFile = (ctx: PlatformContext) =>
  join(ctx.config.repoRoot, 'sandbox-runtimes', 'kernel-env', 'requirements.txt');

export const kernelEnv: Component = {
  name: 'kernel-env',
  title: 'Python kernel environment',
  ports: () => [],
  endpoint: (ctx) => kernelEnvDir(ctx),

  async install(ctx) {
    await ensureDebianPackages(ctx, 'Python kernel environment', [
      { name: 'python3', provides: SYSTEM_PYTHON },
      { name: 'python3-venv', provides: '/usr/lib/python3.11/ensurepip/__init__.py' },
    ]);
    const requirements = readFileSync(requirementsFile(ctx), 'utf8');
    const fingerprint = createHash('sha256').update(requirements).digest('hex');
    const dir = kernelEnvDir(ctx);
    const marker = join(dir, '.quire-requirements.sha256');
    if (markerMatches(marker, fingerprint)) return;
    const log = ctx.supervisor.logFile('install-kernel-env');
    await step('build the Python kernel environment from PyPI (first time: a few minutes)', async () => {
      rmSync(dir, { recursive: true, force: true });
      try {
        await runLogged(SYSTEM_PYTHON, ['-m', 'venv', dir], log);
        await runLogged(
          join(dir, 'bin', 'pip'),
          ['install', '--disable-pip-version-check', '-q', '-r', requirementsFile(ctx)],
          log,
        );
      } catch (err) {
        rmSync(dir, { recursive: true, force: true });
        throw new PlatformError(
          'Python kernel environment',
          `pip install failed (${(err as Error).message})`,
          'read the log; check the network to PyPI',
          log,
        );
      }
    });
    writeMarker(marker, fingerprint);
  },
  async start() {},
  async stop() {},
  async ready(ctx) {
    const python = join(kernelEnvDir(ctx), 'bin', 'python');
    if (!existsSync(python)) return false;
    try {
      await run(python, ['-c', 'import ipykernel, numpy, pandas, matplotlib, pyarrow, duckdb'], {
        timeoutMs: 60_000,
      });
      return true;
    } catch {
      return false;
    }
  },
};
