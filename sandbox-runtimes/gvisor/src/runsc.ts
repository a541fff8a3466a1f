import { execFile, spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Drives gVisor's `runsc` for one host: every sandbox's state lives under one
 * `--root` folder, so a restarted host worker finds its sandboxes again with
 * `list`. Networking is always `none` (the Debian build cannot checkpoint a
 * sandbox with a network stack; see shared/INFRA.md).
 */
export interface RunscOptions {
  runscPath?: string;
  /** runsc's state folder for this host. */
  rootDir: string;
  /** Extra global flags, e.g. ['--debug', '--debug-log=/tmp/runsc/']. */
  extraFlags?: string[];
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

  constructor(private readonly opts: RunscOptions) {
    this.path = opts.runscPath ?? '/usr/bin/runsc';
    if (!existsSync(this.path)) {
      throw new RunscError(
        'runsc',
        '',
        `runsc not found at ${this.path}: install gVisor (apt-get install runsc) or set QUIRE_RUNSC_PATH`,
      );
    }
    if (process.getuid?.() !== 0) {
      throw new RunscError(
        'runsc',
        '',
        'runsc sandboxes need root here (rootless runsc is not supported by this build)',
      );
    }
    mkdirSync(opts.rootDir, { recursive: true });
  }

  private globalFlags(): string[] {
    return ['--root', this.opts.rootDir, '--network=none', ...(this.opts.extraFlags ?? [])];
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

  async list(): Promise<SandboxState[]> {
    const out = await this.exec(['list', '--format=json']);
    const parsed = JSON.parse(out || '[]') as
      { id: string; pid: number; status: string; bundle: string }[] | null;
    return (parsed ?? []).map((s) => ({ id: s.id, pid: s.pid, status: s.status, bundle: s.bundle }));
  }
}
