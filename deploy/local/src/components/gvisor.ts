import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureDebianPackages, requireTool } from '../installers';
import type { Component, PlatformContext } from '../platform-context';
import { runLogged } from '../process-supervisor';
import { PlatformError, step } from '../progress';

/**
 * gVisor's `runsc`. No daemon: host workers call it per sandbox.
 *
 * - The pinned current build, compiled **statically** from the Go module proxy
 *   into `<cache>/gvisor/<version>/runsc` (a cgo build dies at sandbox boot:
 *   its chroot has no dynamic loader). It has the systrap platform.
 * - Debian's `runsc` (2022-12-19, ptrace only) stays installed as the fallback.
 *
 * `QUIRE_RUNSC_PATH` overrides both; the choice reaches the services and the
 * tests through platform-env (QUIRE_RUNSC_PATH), and `quire status` names it.
 */
export const DEBIAN_RUNSC = '/usr/bin/runsc';
const MODULE = 'gvisor.dev/gvisor/runsc';
const PIECE = 'gVisor runsc (static build)';

export function staticRunscPath(ctx: PlatformContext): string {
  return join(ctx.config.cacheDir, 'gvisor', ctx.config.versions.gvisorRunsc, 'runsc');
}

/** runsc `--shared-root` of this machine's sandboxes (QUIRE_RUNSC_SHARED_ROOT overrides). */
export function sharedRunscRoot(ctx: PlatformContext): string {
  return join(ctx.config.stateDir, 'runsc-shared');
}

/** Mount points below `dir`, deepest first (/proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const base = resolve(dir);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === base || m.startsWith(`${base}/`)))
    .sort((a, b) => b.length - a.length);
}

export interface RunscChoice {
  path: string;
  /** Why this one, as `quire status` says it. */
  source:
    'pinned static build' | 'Debian fallback: static build not installed' | 'Debian' | 'QUIRE_RUNSC_PATH';
}

/** The runsc every service and test uses: QUIRE_RUNSC_PATH, else the pinned static build when it runs, else Debian's. */
export function selectedRunsc(ctx: PlatformContext, env: NodeJS.ProcessEnv = process.env): RunscChoice {
  const pinned = staticRunscPath(ctx);
  const chosen = env.QUIRE_RUNSC_PATH;
  if (chosen) {
    // Set by a person, or by `eval "$(quire env)"` (then it is one of ours).
    const source =
      chosen === pinned ? 'pinned static build' : chosen === DEBIAN_RUNSC ? 'Debian' : 'QUIRE_RUNSC_PATH';
    return { path: chosen, source };
  }
  if (runscVersion(pinned)) return { path: pinned, source: 'pinned static build' };
  return { path: DEBIAN_RUNSC, source: 'Debian fallback: static build not installed' };
}

/** `quire status`'s line: which runsc, why, its version and the platform sandboxes get. */
export function describeRunsc(ctx: PlatformContext, env: NodeJS.ProcessEnv = process.env): string {
  const choice = selectedRunsc(ctx, env);
  const version = runscVersion(choice.path);
  if (!version) return `${choice.path} (${choice.source}; does not run)`;
  return `${choice.path} (${choice.source}, ${version}, ${runscPlatform(choice.path, env)})`;
}

const versionCache = new Map<string, string | undefined>();

/** `runsc --version`'s version, or undefined when the binary is missing or does not run. */
export function runscVersion(path: string): string | undefined {
  if (versionCache.has(path)) return versionCache.get(path);
  let version: string | undefined;
  if (existsSync(path)) {
    const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    version = r.status === 0 ? /runsc version (\S+)/.exec(r.stdout)?.[1] : undefined;
  }
  versionCache.set(path, version);
  return version;
}

/** The platform the sandbox driver picks for this runsc (sandbox-runtimes/gvisor/src/runsc.ts): systrap where it has it. */
export function runscPlatform(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.QUIRE_RUNSC_PLATFORM) return `${env.QUIRE_RUNSC_PLATFORM} (QUIRE_RUNSC_PLATFORM)`;
  const r = spawnSync(path, ['flags'], { encoding: 'utf8', timeout: 10_000 });
  const line = /-platform string\s*\n\s*specifies which platform to use:([^\n]*)/.exec(
    `${r.stdout ?? ''}${r.stderr ?? ''}`,
  )?.[1];
  return line?.includes('systrap') ? 'systrap' : 'ptrace';
}

/** True for an ELF executable without a program interpreter (PT_INTERP), i.e. statically linked. */
export function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return false; // ELF64 only
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}

/**
 * What `--version` of our build says: a module build has no release label
 * (`VERSION_MISSING`), so the pin is stamped in; it is not a release name, so
 * runsc's sidecar release enforcement stays advisory.
 */
export function stampedVersion(pin: string): string {
  return `gomod-${pin}`;
}

/** Builds the pinned runsc statically into the cache; reuses Go's module and build caches there. */
async function installStaticRunsc(ctx: PlatformContext): Promise<void> {
  const version = ctx.config.versions.gvisorRunsc;
  const target = staticRunscPath(ctx);
  if (runscVersion(target) === stampedVersion(version) && isStaticElf(target)) return;
  const go = await requireTool(
    PIECE,
    'go',
    `install Go 1.23 or newer or put it on PATH; or set QUIRE_RUNSC_PATH=${DEBIAN_RUNSC} to use Debian's runsc (ptrace)`,
  );
  const cache = join(ctx.config.cacheDir, 'gvisor');
  // Built into a scratch folder and moved in place: a half-written binary is never "installed".
  const scratch = join(cache, `${version}.partial`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const log = ctx.supervisor.logFile('install-runsc');
  await step(`build gVisor runsc ${version} (static) from the Go module proxy (first time: ~3 min)`, () =>
    runLogged(
      go,
      [
        'install',
        `-ldflags=-X gvisor.dev/gvisor/runsc/version.version=${stampedVersion(version)}`,
        `${MODULE}@${version}`,
      ],
      log,
      {
        env: {
          ...process.env,
          CGO_ENABLED: '0',
          GOBIN: scratch,
          GOPATH: join(cache, 'go'),
          GOMODCACHE: join(cache, 'go', 'pkg', 'mod'),
          GOCACHE: join(cache, 'go-build'),
          GOFLAGS: '-modcacherw',
        },
      },
    ).catch((err: Error) => {
      throw new PlatformError(
        PIECE,
        `go install ${MODULE}@${version} failed (${err.message})`,
        `read the log; check Go and the network to the Go module proxy. To run on Debian's runsc (ptrace) meanwhile: QUIRE_RUNSC_PATH=${DEBIAN_RUNSC}`,
        log,
      );
    }),
  );
  const built = join(scratch, 'runsc');
  if (!existsSync(built) || !isStaticElf(built))
    throw new PlatformError(
      PIECE,
      `${built} is missing or dynamically linked (it would die at sandbox boot: "error executing umounter")`,
      'build it with CGO_ENABLED=0 (this launcher does); remove the folder and run again',
      log,
    );
  mkdirSync(join(cache, version), { recursive: true });
  renameSync(built, target);
  rmSync(scratch, { recursive: true, force: true });
  versionCache.delete(target);
  if (runscVersion(target) !== stampedVersion(version))
    throw new PlatformError(
      PIECE,
      `${target} --version does not say ${stampedVersion(version)}`,
      'read the log and run again',
      log,
    );
}

export const gvisor: Component = {
  name: 'gvisor',
  title: 'gVisor runsc',
  ports: () => [],
  endpoint: (ctx) => describeRunsc(ctx),

  async install(ctx) {
    await ensureDebianPackages(ctx, 'gVisor runsc (Debian fallback)', [
      { name: 'runsc', provides: DEBIAN_RUNSC },
    ]);
    // A runsc chosen by the person is used as it is.
    if (!process.env.QUIRE_RUNSC_PATH) await installStaticRunsc(ctx);
  },
  async start() {},
  /** `quire down`: the shared null-netns mount goes, so the state folder can be removed (EBUSY otherwise). */
  async stop(ctx) {
    const shared = process.env.QUIRE_RUNSC_SHARED_ROOT || sharedRunscRoot(ctx);
    for (const mount of mountsUnder(shared)) spawnSync('umount', ['-l', mount], { stdio: 'ignore' });
  },
  async ready(ctx) {
    return runscVersion(selectedRunsc(ctx).path) !== undefined;
  },
};
