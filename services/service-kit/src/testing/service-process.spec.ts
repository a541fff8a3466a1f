import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  crashAndRestart,
  spawnServiceProcess,
  startServiceProcess,
  stopServiceProcess,
  waitUntilReady,
  type ServiceProcess,
  type ServiceProcessOptions,
} from './service-process';
import { freePort } from './test-env';

/** A real child process (a tiny fake service), started the way the helper starts Quire's services. */
jest.setTimeout(60_000);

const ENTRY = 'services/service-kit/test/fixtures/fake-service.ts';

describe('service process helper', () => {
  let logDir: string;
  const started: ServiceProcess[] = [];

  beforeAll(() => {
    logDir = mkdtempSync(join(tmpdir(), 'quire-service-process-'));
  });
  afterEach(async () => {
    for (const svc of started.splice(0)) await stopServiceProcess(svc, 'SIGKILL');
  });
  afterAll(() => rmSync(logDir, { recursive: true, force: true }));

  async function options(mode: string, extra: Partial<ServiceProcessOptions> = {}) {
    const port = await freePort();
    return {
      name: `fake-${mode}`,
      entry: ENTRY,
      port,
      env: { FAKE_MODE: mode, FAKE_PORT: String(port), FAKE_GREETING: 'hello' },
      logDir,
      ...extra,
    } satisfies ServiceProcessOptions;
  }

  /** The log stream is flushed a moment after the exit. */
  async function logOf(svc: ServiceProcess, expected: string): Promise<string> {
    for (let i = 0; i < 50; i++) {
      const text = readFileSync(svc.logFile, 'utf8');
      if (text.includes(expected)) return text;
      await new Promise((r) => setTimeout(r, 100));
    }
    return readFileSync(svc.logFile, 'utf8');
  }

  it('starts it with its environment, waits for /readyz, logs to a file and stops it with SIGTERM', async () => {
    const svc = await startServiceProcess(await options('ready'));
    started.push(svc);
    expect(svc.url).toBe(`http://127.0.0.1:${svc.port}`);
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
    expect(svc.logFile).toBe(join(logDir, 'fake-ready.log'));
    expect(svc.lines).toContain('fake service starting (ready) with FAKE_GREETING=hello');

    expect(await stopServiceProcess(svc)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await logOf(svc, 'fake service listening')).toContain('FAKE_GREETING=hello');
    // Stopping one that has exited answers how it exited.
    expect(await stopServiceProcess(svc)).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('fails with the name, the time waited and the log file when it never becomes ready, and kills it', async () => {
    const svc = spawnServiceProcess(await options('never-ready', { readyTimeoutMs: 1500, readyPollMs: 100 }));
    started.push(svc);
    const err = (await waitUntilReady(svc).catch((e: Error) => e)) as Error;
    expect(err.message).toContain('fake-never-ready not ready after 1.5 s');
    expect(err.message).toContain(`log: ${svc.logFile}`);
    expect(await svc.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('fails with the exit code, the log file and the last lines when it exits before it is ready', async () => {
    const opts = await options('exit-early');
    const err = (await startServiceProcess(opts).catch((e: Error) => e)) as Error;
    expect(err.message).toContain('fake-exit-early exited with code 3 before it was ready');
    expect(err.message).toContain(`log: ${join(logDir, 'fake-exit-early.log')}`);
    expect(err.message).toContain('fake service: cannot start');
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const svc = await startServiceProcess(await options('ignore-term'));
    started.push(svc);
    expect(await stopServiceProcess(svc, 'SIGTERM', 1000)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await logOf(svc, 'ignoring SIGTERM')).toContain('fake service: ignoring SIGTERM');
  });

  it('crash and restart: kill -9, then the same port, environment and log file', async () => {
    const svc = await startServiceProcess(await options('ready', { name: 'fake-crashing' }));
    started.push(svc);
    const firstPid = svc.child.pid;
    await crashAndRestart(svc, 100);
    expect(svc.child.pid).not.toBe(firstPid);
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
    expect(svc.lines.filter((l) => l.startsWith('fake service starting')).length).toBe(2);
    await stopServiceProcess(svc);
    const log = await logOf(svc, 'fake service listening\nfake service starting');
    expect(log.match(/fake service starting \(ready\) with FAKE_GREETING=hello/g)).toHaveLength(2);
  });

  it('waits for an output line instead of HTTP when told to', async () => {
    const opts = await options('never-ready', {
      readyPath: null,
      readyLine: (l) => l === 'fake service listening',
      name: 'fake-by-line',
    });
    const seen: string[] = [];
    const svc = await startServiceProcess({ ...opts, onLine: (l) => seen.push(l) });
    started.push(svc);
    expect(seen).toContain('fake service listening');
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(503); // ready by its line, not by HTTP
  });
});
