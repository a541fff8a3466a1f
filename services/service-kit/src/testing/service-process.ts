import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * A Quire Node service started from its TypeScript source as its own process,
 * the way `quire` runs it (`node -r @swc-node/register <entry>` from the
 * repository root), for integration tests and benchmarks: separate processes so
 * a test can kill -9 one and start it again on the same port and state.
 *
 * Output goes to a log file (never the test's own stdio); the most recent lines
 * are also kept in memory so a failure message can quote them.
 */

/** Entries are relative to the repository root, and services run from it. */
const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');

export interface ServiceProcessOptions {
  /** Names the log file and every error about this process. */
  name: string;
  /** The entry point, relative to the repository root (or absolute). */
  entry: string;
  /** Arguments after the entry point. */
  args?: string[];
  /** The port it listens on; its base URL is then http://127.0.0.1:<port>. */
  port?: number;
  /** Base URL when it is not http://127.0.0.1:<port>. */
  url?: string;
  /** Added to (and overriding) the test's environment. */
  env?: Record<string, string>;
  /** Folder of the log file. Default: QUIRE_TEST_LOG_DIR, else <tmp>/quire-test-logs. */
  logDir?: string;
  /** Default `<name>.log` in an explicit logDir; `<name>-<pid>[-n].log` in the default one (shared by runs). */
  logFileName?: string;
  /** Polled until it answers 2xx (default '/readyz'); null: readiness is not checked over HTTP. */
  readyPath?: string | null;
  /** Ready when an output line matches (for processes that announce themselves instead of serving HTTP). */
  readyLine?: (line: string) => boolean;
  /** How long it may take to become ready (default 120 s). */
  readyTimeoutMs?: number;
  /** Pause between readiness probes (default 250 ms). */
  readyPollMs?: number;
  /** Timeout of one readiness request (default 2 s). */
  probeTimeoutMs?: number;
  /** Called with every output line (stdout and stderr). */
  onLine?: (line: string) => void;
  /** Output lines kept in memory (default 2,000; Infinity keeps all). */
  keepLines?: number;
  /** Node's --enable-source-maps (default true; benchmarks turn it off: it makes every stack trace slower). */
  sourceMaps?: boolean;
  /** SIGKILL it if this process exits first (benchmarks that end with process.exit). */
  killWithParent?: boolean;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceProcess {
  readonly name: string;
  readonly entry: string;
  readonly port: number | undefined;
  /** Base URL ('' when it has no port). */
  readonly url: string;
  readonly env: Record<string, string>;
  readonly logFile: string;
  /** Recent output lines, across restarts. */
  readonly lines: string[];
  /** The current process (a new one after each restart). */
  child: ChildProcess;
  /** Resolves when the current process has exited. */
  exited: Promise<ProcessExit>;
  readonly options: Readonly<ServiceProcessOptions>;
}

/** Starts it and waits until it is ready (see readyPath / readyLine). */
export async function startServiceProcess(opts: ServiceProcessOptions): Promise<ServiceProcess> {
  const svc = spawnServiceProcess(opts);
  await waitUntilReady(svc);
  return svc;
}

/** Starts it without waiting (for callers that wait on something of their own, e.g. a log line). */
export function spawnServiceProcess(opts: ServiceProcessOptions): ServiceProcess {
  const url = opts.url ?? (opts.port !== undefined ? `http://127.0.0.1:${opts.port}` : '');
  const svc: ServiceProcess = {
    name: opts.name,
    entry: opts.entry,
    port: opts.port,
    url,
    env: opts.env ?? {},
    logFile: logFileFor(opts),
    lines: [],
    child: undefined as unknown as ChildProcess,
    exited: Promise.resolve({ code: null, signal: null }),
    options: opts,
  };
  launch(svc);
  return svc;
}

/** Starts a stopped one again: same entry, port, environment and log file (appended to). */
export async function restartServiceProcess(svc: ServiceProcess, readyTimeoutMs?: number): Promise<void> {
  if (isRunning(svc)) throw new Error(`${svc.name} is still running (pid ${svc.child.pid}); stop it first`);
  launch(svc);
  await waitUntilReady(svc, readyTimeoutMs);
}

/** Stops it (kill -9 by default, as in a crash), waits `downMs`, then starts it again. */
export async function crashAndRestart(
  svc: ServiceProcess,
  downMs = 0,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<void> {
  await stopServiceProcess(svc, signal);
  if (downMs) await new Promise((r) => setTimeout(r, downMs));
  await restartServiceProcess(svc);
}

/**
 * Sends `signal` and waits for the exit, escalating to SIGKILL after
 * `killAfterMs` (null: never). Resolves with how it exited; at once if it
 * already had. Takes any `{ child }`, so callers' own process records work too.
 */
export async function stopServiceProcess(
  svc: { child: ChildProcess; exited?: Promise<ProcessExit> } | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
  killAfterMs: number | null = 20_000,
): Promise<ProcessExit | undefined> {
  if (!svc?.child) return undefined;
  const { child } = svc;
  const exited =
    svc.exited ??
    new Promise<ProcessExit>((r) =>
      child.exitCode !== null || child.signalCode !== null
        ? r({ code: child.exitCode, signal: child.signalCode })
        : child.once('exit', (code, sig) => r({ code, signal: sig })),
    );
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill(signal);
  const escalate = killAfterMs === null ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  try {
    return await exited;
  } finally {
    clearTimeout(escalate);
  }
}

export function isRunning(svc: ServiceProcess): boolean {
  return svc.child.exitCode === null && svc.child.signalCode === null;
}

/**
 * Waits until it answers `readyPath` with 2xx (or prints a `readyLine`). If it
 * exits first or is not ready in time, it is killed and the error names it,
 * its exit and its log file, with its last lines.
 */
export async function waitUntilReady(svc: ServiceProcess, timeoutMs?: number): Promise<void> {
  const o = svc.options;
  const limit = timeoutMs ?? o.readyTimeoutMs ?? 120_000;
  const readyPath = o.readyPath === undefined ? (o.readyLine ? null : '/readyz') : o.readyPath;
  if (readyPath !== null && !svc.url) throw new Error(`${svc.name}: a readiness path needs a port or url`);
  const child = svc.child;
  const run = runs.get(child)!;
  const deadline = Date.now() + limit;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      // Its last words may still be in the pipes: let them reach the log (briefly, a
      // grandchild can hold the pipes open).
      await Promise.race([run.closed, new Promise((r) => setTimeout(r, 1000))]);
      const how = child.exitCode !== null ? `with code ${child.exitCode}` : `on ${child.signalCode}`;
      throw new Error(`${svc.name} exited ${how} before it was ready; log: ${svc.logFile}${tail(svc)}`);
    }
    const lineOk = !o.readyLine || run.sawReadyLine;
    if (lineOk && (readyPath === null || (await answers(svc.url + readyPath, o)))) return;
    if (Date.now() > deadline) {
      child.kill('SIGKILL'); // a process nobody holds any more must not outlive the failed start
      throw new Error(`${svc.name} not ready after ${limit / 1000} s; log: ${svc.logFile}${tail(svc)}`);
    }
    await new Promise((r) => setTimeout(r, o.readyPollMs ?? 250));
  }
}

async function answers(url: string, o: ServiceProcessOptions): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(o.probeTimeoutMs ?? 2000) })).ok;
  } catch {
    return false; // not listening yet
  }
}

function tail(svc: ServiceProcess, n = 30): string {
  return svc.lines.length ? `\n${svc.lines.slice(-n).join('\n')}` : '';
}

const namesInDefaultDir = new Map<string, number>();

function logFileFor(opts: ServiceProcessOptions): string {
  const dir = opts.logDir ?? process.env.QUIRE_TEST_LOG_DIR ?? join(tmpdir(), 'quire-test-logs');
  mkdirSync(dir, { recursive: true });
  if (opts.logFileName) return join(dir, opts.logFileName);
  if (opts.logDir) return join(dir, `${opts.name}.log`);
  // The default folder is shared by every run and test worker: a name of this process's own.
  const n = (namesInDefaultDir.get(opts.name) ?? 0) + 1;
  namesInDefaultDir.set(opts.name, n);
  return join(dir, `${opts.name}-${process.pid}${n > 1 ? `-${n}` : ''}.log`);
}

/** Per process started: its output has been drained, and whether it printed its ready line. */
const runs = new WeakMap<ChildProcess, { closed: Promise<void>; sawReadyLine: boolean }>();

function launch(svc: ServiceProcess): void {
  const o = svc.options;
  const out = createWriteStream(svc.logFile, { flags: 'a' });
  const child = spawn(
    process.execPath,
    [
      ...(o.sourceMaps === false ? [] : ['--enable-source-maps']),
      '-r',
      '@swc-node/register',
      resolve(REPO_ROOT, svc.entry),
      ...(o.args ?? []),
    ],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, SWC_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.base.json'), ...svc.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  svc.child = child;
  svc.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const run = { closed: new Promise<void>((r) => child.once('close', () => r())), sawReadyLine: false };
  runs.set(child, run);
  const keep = o.keepLines ?? 2000;
  const take = (line: string) => {
    svc.lines.push(line);
    if (svc.lines.length > keep) svc.lines.shift();
    if (o.readyLine?.(line)) run.sawReadyLine = true;
    o.onLine?.(line);
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = '';
    stream.on('data', (d: Buffer) => {
      out.write(d);
      partial += d.toString('utf8');
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        take(partial.slice(0, i));
        partial = partial.slice(i + 1);
      }
    });
    stream.once('end', () => partial && take(partial));
  }
  // Could not even start (no exit event follows): say so where a failure message looks.
  child.once('error', (err) => take(`spawning ${svc.name} failed: ${err.message}`));
  void run.closed.then(() => out.end());
  if (o.killWithParent) {
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    child.once('exit', () => process.off('exit', kill));
  }
}
