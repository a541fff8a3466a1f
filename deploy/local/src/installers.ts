import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlatformContext } from './platform-context';
import { run, runLogged, which } from './process-supervisor';
import { PlatformError, step } from './progress';

/** Idempotent install helpers: each checks first and does nothing when the piece is there. */

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

let aptUpdated = false;
/** apt holds a global lock: installs from parallel steps queue here. */
let aptQueue: Promise<unknown> = Promise.resolve();

/** Installs Debian packages that are missing (by checking a file each one provides). */
export async function ensureDebianPackages(
  ctx: PlatformContext,
  piece: string,
  packages: { name: string; provides: string }[],
): Promise<void> {
  if (packages.every((p) => existsSync(p.provides))) return;
  const turn = aptQueue.then(() => installDebianPackages(ctx, piece, packages));
  aptQueue = turn.catch(() => undefined);
  await turn;
}

async function installDebianPackages(
  ctx: PlatformContext,
  piece: string,
  packages: { name: string; provides: string }[],
): Promise<void> {
  const missing = packages.filter((p) => !existsSync(p.provides));
  if (missing.length === 0) return;
  const names = missing.map((p) => p.name);
  if (!isRoot()) {
    throw new PlatformError(
      piece,
      `Debian packages missing: ${names.join(' ')}`,
      `run: sudo apt-get install -y ${names.join(' ')}`,
    );
  }
  const log = ctx.supervisor.logFile('install-apt');
  await step(`install ${names.join(', ')} (apt)`, async () => {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () =>
      runLogged('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...names], log, { env });
    try {
      if (!aptUpdated) throw new Error('refresh package lists first');
      await install();
    } catch {
      aptUpdated = true;
      await runLogged('apt-get', ['update', '-q'], log, { env }).catch(() => undefined);
      await install().catch((err: Error) => {
        throw new PlatformError(
          piece,
          `apt-get install ${names.join(' ')} failed (${err.message})`,
          'check the log and the network to Debian',
          log,
        );
      });
    }
  });
}

export async function requireTool(piece: string, binary: string, remedy: string): Promise<string> {
  const path = await which(binary);
  if (!path) throw new PlatformError(piece, `${binary} is not installed`, remedy);
  return path;
}

/**
 * Builds a Go program from the Go module proxy into the cache. Go's own module
 * and build caches (GOMODCACHE, GOCACHE) are left at their defaults so a fresh
 * clone on the same machine rebuilds in seconds.
 */
export async function goInstall(
  ctx: PlatformContext,
  piece: string,
  modulePath: string,
  version: string,
  binary: string,
): Promise<string> {
  const binDir = join(ctx.config.cacheDir, 'bin', `${binary}-${version}`);
  const target = join(binDir, binary);
  if (existsSync(target)) return target;
  const go = await requireTool(
    piece,
    'go',
    'install Go 1.23 or newer (https://go.dev/doc/install) or put it on PATH',
  );
  mkdirSync(binDir, { recursive: true });
  const log = ctx.supervisor.logFile(`install-${binary}`);
  await step(`build ${binary} ${version} from the Go module proxy (first time: a few minutes)`, () =>
    runLogged(go, ['install', `${modulePath}@${version}`], log, {
      env: { ...process.env, GOBIN: binDir, CGO_ENABLED: '0', GOFLAGS: '-trimpath' },
    }).catch((err: Error) => {
      throw new PlatformError(
        piece,
        `go install ${modulePath}@${version} failed (${err.message})`,
        'read the log; check Go version and network to the Go module proxy',
        log,
      );
    }),
  );
  return target;
}

/** A marker file that records what was installed, so a changed pin reinstalls. */
export function markerMatches(file: string, content: string): boolean {
  return existsSync(file) && readFileSync(file, 'utf8') === content;
}

export function writeMarker(file: string, content: string): void {
  writeFileSync(file, content);
}

export { run };
