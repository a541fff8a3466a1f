import { spawn, execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PlatformError } from './progress';

const execFileAsync = promisify(execFile);

/**
 * Runs each platform piece as a detached process with its own log file and pid
 * file under the state folder, so `quire up` can return and later commands
 * (status, logs, down) find them again.
 */
export class ProcessSupervisor {
  constructor(private readonly stateDir: string) {
    mkdirSync(this.runDir, { recursive: true });
    mkdirSync(this.logDir, { recursive: true });
  }

  get runDir(): string {
    return join(this.stateDir, 'run');
  }

  get logDir(): string {
    return join(this.stateDir, 'logs');
  }

  logFile(name: string): string {
    return join(this.logDir, `${name}.log`);
  }

  pid(name: string): number | undefined {
    const file = join(this.runDir, `${name}.pid`);
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  isRunning(name: string): boolean {
    const pid = this.pid(name);
    return pid !== undefined && isAlive(pid);
  }

  start(
    name: string,
    command: string,
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; cwd?: string; uid?: number; gid?: number } = {},
  ): number {
    const out = openSync(this.logFile(name), 'a');
    writeFileSync(out, `\n=== ${new Date().toISOString()} starting ${command} ${args.join(' ')}\n`);
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', out, out],
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    closeSync(out);
    if (child.pid === undefined) {
      throw new PlatformError(
        name,
        `could not start ${command}`,
        'check that it is installed',
        this.logFile(name),
      );
    }
    child.unref();
    writeFileSync(join(this.runDir, `${name}.pid`), String(child.pid));
    return child.pid;
  }

  /** SIGTERM, wait, then SIGKILL the whole process group. */
  async stop(name: string, graceMs = 15_000): Promise<boolean> {
    const pid = this.pid(name);
    rmSync(join(this.runDir, `${name}.pid`), { force: true });
    if (pid === undefined || !isAlive(pid)) return false;
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (!isAlive(pid)) return true;
      await sleep(100);
    }
    signalGroup(pid, 'SIGKILL');
    await sleep(200);
    return true;
  }

  /** Kill -9, for failure tests. */
  kill9(name: string): void {
    const pid = this.pid(name);
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
  }

  tail(name: string, lines = 40): string {
    const file = this.logFile(name);
    if (!existsSync(file)) return '';
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function isPortOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Polls until `probe` answers true, or fails naming the piece and pointing at its log. */
export async function waitUntil(
  piece: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; logFile?: string; isAlive?: () => boolean; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    if (opts.isAlive && !opts.isAlive()) {
      throw new PlatformError(
        piece,
        'exited during start-up',
        'read the log below; fix the cause and run again',
        opts.logFile,
      );
    }
    await sleep(opts.intervalMs ?? 250);
  }
  throw new PlatformError(
    piece,
    `not ready after ${Math.round(opts.timeoutMs / 1000)} s`,
    'read the log; if the machine is slow, run again (starts are idempotent)',
    opts.logFile,
  );
}

export async function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; uid?: number; gid?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  const { stdout, stderr } = await execFileAsync(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    timeout: opts.timeoutMs ?? 0,
    maxBuffer: 64 * 1024 * 1024,
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  return { stdout: stdout.toString(), stderr: stderr.toString() };
}

/** Runs a long command streaming its output into a log file (installs, compiles). */
export function runLogged(
  command: string,
  args: string[],
  logFile: string,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = openSync(logFile, 'a');
    writeFileSync(out, `\n=== ${new Date().toISOString()} ${command} ${args.join(' ')}\n`);
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} exited with ${code ?? signal}`));
    });
  });
}

export async function which(binary: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('bash', ['-c', `command -v ${binary}`]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}
