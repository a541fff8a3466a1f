import {
  execFile,
  spawn,
  spawnSync,
  type ChildProcess,
  type ChildProcessWithoutNullStreams,
} from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Debian's runsc (build 2022-12-19, ptrace only): the fallback when no current build is configured. */
export const DEBIAN_RUNSC_PATH = '/usr/bin/runsc';

/**
 * The runsc a process uses when it is not given one: `QUIRE_RUNSC_PATH` (the
 * launcher sets it to the pinned static build when that is installed, see
 * deploy/local/src/components/gvisor.ts), else Debian's.
 */
export function defaultRunscPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.QUIRE_RUNSC_PATH || DEBIAN_RUNSC_PATH;
}

/**
 * Drives gVisor's `runsc` for one host: every sandbox's state lives under one
 * `--root` folder, so a restarted host worker finds its sandboxes again with
 * `list`. Networking is always `none` (checkpoint needs it; see shared/INFRA.md).
 * The platform follows the binary: systrap where runsc has it (current builds),
 * ptrace on Debian's 2022 build, or `platform` / `QUIRE_RUNSC_PLATFORM`.
 */
export interface RunscOptions {
  /** Default: QUIRE_RUNSC_PATH, else /usr/bin/runsc. */
  runscPath?: string;
  /** runsc's state folder for this host. */
  rootDir: string;
  /** `systrap`, `ptrace` or `kvm`; default QUIRE_RUNSC_PLATFORM, else the best this runsc has. */
  platform?: string;
  /**
   * `--shared-root` (current runsc only): state shared by sandboxes of the
   * machine, i.e. the empty "null" network namespace of the gofers, made once
   * and reused; without it each `--root` makes its own on its first sandbox.
   * Default QUIRE_RUNSC_SHARED_ROOT; unset: runsc uses `--root`.
   */
  sharedRootDir?: string;
  /** Extra global flags, e.g. ['--debug', '--debug-log=/tmp/runsc/']. */
  extraFlags?: string[];
}

/** What a runsc binary is: its version line and the platforms its `--platform` flag accepts. */
export interface RunscInfo {
  path: string;
  /** e.g. `0.0~20221219.0` (Debian) or `release-20260831.0` / `VERSION_MISSING` (a module build). */
  version: string;
  /** Platforms named in `runsc flags`' description of `-platform`, e.g. ['systrap', 'ptrace', 'kvm']. */
  platforms: string[];
  /** The platform this runsc uses when none is given. */
  defaultPlatform: string | undefined;
  /** It has `--shared-root` (and so a null-netns bind mount to undo before removing that folder). */
  sharedRoot: boolean;
  /** Build date from the version (`0.0~20221219.0`, `release-20240101.0`, `gomod-v0.0.0-20260905035102-…`), as YYYYMMDD. */
  buildDate: number | undefined;
  /**
   * `checkpoint --leave-running` resumes the sandbox in place, keeping its
   * stdio (current runsc). Debian's 2022 build instead destroys the container
   * and restores it inside the checkpoint command, with that command's stdio.
   * True for builds from the pinned one's date on (the one tested here).
   */
  checkpointResumesInPlace: boolean;
}

/** Date of the runsc build the in-place `--leave-running` was tested with (kernel-fork.int.spec.ts). */
const RESUME_IN_PLACE_SINCE = 20260905;

/** YYYYMMDD from a runsc version string, when it carries one. */
export function runscBuildDate(version: string): number | undefined {
  const m = /(?:^0\.0~|^release-|^g[a-z]*-|^gomod-v\d+\.\d+\.\d+-)(\d{8})/.exec(version);
  return m ? Number(m[1]) : undefined;
}

/** Preferred first: systrap is ~15x cheaper per syscall than ptrace here; KVM does not start on our VMs. */
const PLATFORM_PREFERENCE = ['systrap', 'ptrace'];

const infoCache = new Map<string, RunscInfo>();

/**
 * Reads `runsc --version` and `runsc flags` (a few ms; cached per path). Throws
 * a RunscError naming the binary when it is missing or does not run.
 */
export function probeRunsc(path: string): RunscInfo {
  const cached = infoCache.get(path);
  if (cached) return cached;
  if (!existsSync(path))
    throw new RunscError(
      'runsc',
      '',
      `runsc not found at ${path}: run \`npm start\` (installs gVisor), apt-get install runsc, or set QUIRE_RUNSC_PATH`,
    );
  const version = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const line = /runsc version (\S+)/.exec(version.stdout ?? '');
  if (version.status !== 0 || !line)
    throw new RunscError(
      'runsc --version',
      version.stderr ?? '',
      `${path} --version failed (${version.error?.message ?? (version.status === 0 ? 'no "runsc version" line' : `exit ${version.status}`)}): ${(version.stderr ?? '').trim().slice(-300)}`,
    );
  const flags = spawnSync(path, ['flags'], { encoding: 'utf8', timeout: 10_000 });
  // runsc prints its flags on stderr:
  // "-platform string\n    \tspecifies which platform to use: systrap (default), ptrace, kvm. (default \"systrap\")"
  const flagText = `${flags.stdout ?? ''}${flags.stderr ?? ''}`;
  const text = /-platform string\s*\n\s*specifies which platform to use:([^\n]*)/.exec(flagText)?.[1] ?? '';
  const sharedRoot = /^\s*-shared-root\b/m.test(flagText);
  const platforms = [...text.matchAll(/\b(systrap|ptrace|kvm)\b/g)].map((m) => m[1]!);
  const info: RunscInfo = {
    path,
    version: line[1]!,
    platforms: [...new Set(platforms.length > 0 ? platforms : ['ptrace'])],
    defaultPlatform: /default "(\w+)"/.exec(text)?.[1] ?? /(\w+) \(default\)/.exec(text)?.[1],
    sharedRoot,
    buildDate: runscBuildDate(line[1]!),
    checkpointResumesInPlace: (runscBuildDate(line[1]!) ?? 0) >= RESUME_IN_PLACE_SINCE,
  };
  infoCache.set(path, info);
  return info;
}

/** The platform sandboxes of this runsc run on: the one asked for (checked), else the best it has. */
export function chooseRunscPlatform(info: RunscInfo, requested?: string): string {
  if (requested) {
    if (!info.platforms.includes(requested))
      throw new RunscError(
        'runsc',
        '',
        `QUIRE_RUNSC_PLATFORM=${requested}: ${info.path} (runsc ${info.version}) has only ${info.platforms.join(', ')}`,
      );
    return requested;
  }
  return PLATFORM_PREFERENCE.find((p) => info.platforms.includes(p)) ?? info.platforms[0]!;
}

/**
 * Mount points at or below `dir` (from /proc/self/mountinfo), deepest first.
 * A current runsc bind-mounts a `null-netns` file inside its `--root` folder.
 */
export function mountsUnder(dir: string): string[] {
  const base = resolve(dir);
  let table: string;
  try {
    table = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return table
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map(unescape)
    .filter((p) => p === base || p.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes a runsc `--root` folder (or any folder holding one): unmounts what
 * runsc mounted inside it first (its `null-netns` bind mount; rmdir fails with
 * EBUSY otherwise). Kill and delete the sandboxes before calling this.
 */
export function removeRunscRoot(dir: string): void {
  for (const mount of mountsUnder(dir)) {
    const r = spawnSync('umount', [mount], { encoding: 'utf8' });
    if (r.status !== 0) spawnSync('umount', ['-l', mount], { encoding: 'utf8' });
  }
  rmSync(dir, { recursive: true, force: true });
}

export class RunscError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    message: string,
  ) {
    super(message);
    this.name = 'RunscError';
  }
}

export interface SandboxState {
  id: string;
  pid: number;
  status: 'created' | 'running' | 'stopped' | 'paused' | string;
  bundle: string;
}

export class Runsc {
  readonly path: string;
  readonly info: RunscInfo;
  /** The `--platform` every sandbox of this driver runs on. */
  readonly platform: string;
  /** `--shared-root`, when this runsc has it and one is configured. */
  readonly sharedRootDir: string | undefined;

  constructor(private readonly opts: RunscOptions) {
    this.path = opts.runscPath ?? defaultRunscPath();
    this.info = probeRunsc(this.path);
    this.platform = chooseRunscPlatform(
      this.info,
      opts.platform ?? (process.env.QUIRE_RUNSC_PLATFORM || undefined),
    );
    const shared = opts.sharedRootDir ?? (process.env.QUIRE_RUNSC_SHARED_ROOT || undefined);
    this.sharedRootDir = shared && this.info.sharedRoot ? resolve(shared) : undefined;
    if (process.getuid?.() !== 0) {
      throw new RunscError(
        'runsc',
        '',
        'runsc sandboxes need root here (rootless runsc is not supported by this build)',
      );
    }
    mkdirSync(opts.rootDir, { recursive: true });
    if (this.sharedRootDir) mkdirSync(this.sharedRootDir, { recursive: true, mode: 0o700 });
  }

  get rootDir(): string {
    return this.opts.rootDir;
  }

  private globalFlags(): string[] {
    return [
      '--root',
      this.opts.rootDir,
      '--network=none',
      `--platform=${this.platform}`,
      ...(this.sharedRootDir ? ['--shared-root', this.sharedRootDir] : []),
      ...(this.opts.extraFlags ?? []),
    ];
  }

  private async exec(args: string[], timeoutMs = 60_000): Promise<string> {
    try {
      const { stdout } = await execFileAsync(this.path, [...this.globalFlags(), ...args], {
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new RunscError(
        `runsc ${args[0]}`,
        e.stderr ?? '',
        `runsc ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' | ')}`,
      );
    }
  }

  /**
   * `runsc run` in the foreground of a child process whose stdio pipes are the
   * container's stdio: the channel that survives checkpoint and restore.
   */
  run(id: string, bundleDir: string): ChildProcessWithoutNullStreams {
    return spawn(this.path, [...this.globalFlags(), 'run', '--bundle', bundleDir, id], { stdio: 'pipe' });
  }

  /**
   * `runsc run` with the given fds as the container's stdio, in its own
   * session: it outlives the process that started it (the fds are typically
   * named pipes that a restarted host worker re-opens).
   */
  runDetached(
    id: string,
    bundleDir: string,
    stdio: [number, number, number],
    /** Global flags for this sandbox only, e.g. ['--nvproxy'] for a GPU sandbox. */
    sandboxFlags: string[] = [],
  ): ChildProcess {
    return spawn(this.path, [...this.globalFlags(), ...sandboxFlags, 'run', '--bundle', bundleDir, id], {
      stdio,
      detached: true,
    });
  }

  /** `runsc restore` of a checkpoint image, again with fresh stdio pipes. */
  restore(id: string, bundleDir: string, imageDir: string): ChildProcessWithoutNullStreams {
    return spawn(
      this.path,
      [...this.globalFlags(), 'restore', '--bundle', bundleDir, '--image-path', imageDir, id],
      { stdio: 'pipe' },
    );
  }

  /** `runsc restore` with the given fds as stdio, detached like runDetached. */
  restoreDetached(
    id: string,
    bundleDir: string,
    imageDir: string,
    stdio: [number, number, number],
  ): ChildProcess {
    return spawn(
      this.path,
      [...this.globalFlags(), 'restore', '--bundle', bundleDir, '--image-path', imageDir, id],
      { stdio, detached: true },
    );
  }

  async checkpoint(id: string, imageDir: string, opts: { leaveRunning?: boolean } = {}): Promise<void> {
    mkdirSync(imageDir, { recursive: true });
    await this.exec(
      ['checkpoint', '--image-path', imageDir, ...(opts.leaveRunning ? ['--leave-running'] : []), id],
      10 * 60_000,
    );
  }

  /**
   * Runs a command in an existing sandbox beside its processes (`runsc exec`),
   * as the unprivileged sandbox user by default: diagnostics and maintenance
   * without touching the kernel. A non-zero exit is a result, not an error;
   * a sandbox that is not there is a RunscError.
   */
  execIn(
    id: string,
    args: string[],
    opts: { user?: string; cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const flags = [
      '--user',
      opts.user ?? '1000:1000',
      '--cwd',
      opts.cwd ?? '/tmp',
      ...Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
    ];
    return new Promise((resolve, reject) => {
      const child = spawn(this.path, [...this.globalFlags(), 'exec', ...flags, id, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new RunscError('runsc exec', stderr, `runsc exec could not start: ${err.message}`));
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        // runsc itself failing (no such sandbox) exits 128 with its own message on stderr.
        if (code === 128 && /container|sandbox|not found|does not exist/i.test(stderr)) {
          reject(
            new RunscError(
              'runsc exec',
              stderr,
              `runsc exec in ${id} failed: ${stderr.trim().split('\n').slice(-1)[0]}`,
            ),
          );
          return;
        }
        resolve({ exitCode: code, stdout, stderr });
      });
    });
  }

  async kill(id: string, signal = 'KILL', all = false): Promise<void> {
    await this.exec(['kill', ...(all ? ['--all'] : []), id, signal]);
  }

  async delete(id: string, force = true): Promise<void> {
    await this.exec(['delete', ...(force ? ['--force'] : []), id]);
  }

  async state(id: string): Promise<SandboxState | undefined> {
    try {
      const s = JSON.parse(await this.exec(['state', id])) as {
        id: string;
        pid: number;
        status: string;
        bundle: string;
      };
      return { id: s.id, pid: s.pid, status: s.status, bundle: s.bundle };
    } catch (err) {
      if (err instanceof RunscError && /does not exist|not found|cannot load/i.test(err.message))
        return undefined;
      throw err;
    }
  }

  /**
   * Kills and deletes every sandbox under this `--root`, then removes the
   * folder (runsc's mounts inside it first). Returns the ids it found.
   */
  async removeRoot(): Promise<string[]> {
    const left = await this.list().catch(() => []);
    for (const s of left) {
      await this.kill(s.id, 'KILL', true).catch(() => undefined);
      await this.delete(s.id).catch(() => undefined);
    }
    removeRunscRoot(this.opts.rootDir);
    return left.map((s) => s.id);
  }

  async list(): Promise<SandboxState[]> {
    const out = await this.exec(['list', '--format=json']);
    const parsed = JSON.parse(out || '[]') as
      { id: string; pid: number; status: string; bundle: string }[] | null;
    return (parsed ?? []).map((s) => ({ id: s.id, pid: s.pid, status: s.status, bundle: s.bundle }));
  }
}
