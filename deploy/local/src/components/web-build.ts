import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ensureDebianPackages, markerMatches, writeMarker } from '../installers';
import type { Component, PlatformContext } from '../platform-context';
import { run, runLogged } from '../process-supervisor';
import { PlatformError, step } from '../progress';

/**
 * The web editor's static build (services/web → dist, served by the gateway at
 * `/`). An install-like step: it rebuilds with Vite only when a source file
 * changed (a content fingerprint of the app and the contracts it bundles is
 * kept beside the build), so a warm `quire up` / `quire test` skips it.
 */
const MARKER = '.quire-build.sha256';

export const webDist = (ctx: PlatformContext) =>
  resolve(ctx.config.repoRoot, process.env.QUIRE_WEB_DIST ?? join('services', 'web', 'dist'));

/** Every file the bundle is made of (app sources, build config, bundled contracts). */
export function webSourceFingerprint(repoRoot: string): string {
  const web = join(repoRoot, 'services', 'web');
  const files: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (!/\.spec\.tsx?$/.test(name)) files.push(p);
    }
  };
  walk(join(web, 'src'));
  walk(join(repoRoot, 'contracts', 'src'));
  for (const f of ['index.html', 'vite.config.mts', 'package.json', 'tsconfig.json'])
    files.push(join(web, f));
  const hash = createHash('sha256');
  for (const f of files) {
    if (!existsSync(f)) continue;
    hash.update(relative(repoRoot, f)).update('\0').update(readFileSync(f)).update('\0');
  }
  return hash.digest('hex');
}

export const webBuild: Component = {
  name: 'web-build',
  title: 'Web editor build',
  ports: () => [],
  endpoint: (ctx) => webDist(ctx),

  async install(ctx) {
    const dist = webDist(ctx);
    const fingerprint = webSourceFingerprint(ctx.config.repoRoot);
    if (markerMatches(join(dist, MARKER), fingerprint) && existsSync(join(dist, 'index.html'))) return;
    const web = join(ctx.config.repoRoot, 'services', 'web');
    const log = ctx.supervisor.logFile('install-web-build');
    // Build beside the live folder and swap, so a running gateway never serves half a build.
    const staging = join(dirname(dist), `.dist-building-${process.pid}`);
    await step('build the web editor (vite)', async () => {
      let viteBin: string;
      try {
        viteBin = join(dirname(require.resolve('vite/package.json', { paths: [web] })), 'bin', 'vite.js');
      } catch {
        throw new PlatformError(
          'Web editor build',
          'vite is not installed',
          'run npm ci at the repository root',
        );
      }
      try {
        await runLogged(
          process.execPath,
          [viteBin, 'build', '--config', join(web, 'vite.config.mts'), '--outDir', staging, '--emptyOutDir'],
          log,
          { cwd: web, env: { ...process.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true' } },
        );
      } catch (err) {
        rmSync(staging, { recursive: true, force: true });
        throw new PlatformError(
          'Web editor build',
          `vite build failed (${(err as Error).message})`,
          'read the log; `npx tsc -p services/web` shows type errors',
          log,
        );
      }
      writeMarker(join(staging, MARKER), fingerprint);
      rmSync(dist, { recursive: true, force: true });
      renameSync(staging, dist);
    });
  },
  async start() {},
  async stop() {},
  async ready(ctx) {
    return existsSync(join(webDist(ctx), 'index.html'));
  },
};

/** Debian's Chromium for the editor's end-to-end tests (Playwright cannot download browsers here). */
export const CHROMIUM_PATH = process.env.QUIRE_CHROMIUM_PATH ?? '/usr/bin/chromium';

export const chromium: Component = {
  name: 'chromium',
  title: 'Chromium (browser tests)',
  ports: () => [],
  endpoint: () => CHROMIUM_PATH,
  async install(ctx) {
    await ensureDebianPackages(ctx, 'Chromium', [{ name: 'chromium', provides: CHROMIUM_PATH }]);
  },
  async start() {},
  async stop() {},
  async ready() {
    try {
      const { stdout } = await run(CHROMIUM_PATH, ['--version'], { timeoutMs: 10_000 });
      return /chromium/i.test(stdout);
    } catch {
      return false;
    }
  },
};
