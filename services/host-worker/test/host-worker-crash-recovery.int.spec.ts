import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uuidv7 } from '@quire/contracts';
import {
  freePort,
  restartServiceProcess,
  startServiceProcess,
  stopServiceProcess,
  type ServiceProcess,
} from '@quire/service-kit';

/**
 * kill -9 of a host worker process must not take its kernels with it: the
 * sandboxes keep running (their stdio are named pipes held by runsc), and the
 * next host-worker process re-attaches — variables intact, a cell that was
 * running (and printing more than a pipe holds) carries on.
 */
jest.setTimeout(300_000);

const run = uuidv7().slice(-10);

/** The host-worker process; start() after kill9() runs a new one on the same port and state folder. */
class HostWorkerProcess {
  private proc?: ServiceProcess;
  constructor(
    readonly base: string,
    private readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    if (this.proc) return restartServiceProcess(this.proc);
    this.proc = await startServiceProcess({
      name: 'host-worker-crash',
      entry: 'services/host-worker/src/main.ts',
      url: this.base,
      env: this.env,
      readyTimeoutMs: 90_000,
      readyPollMs: 200,
    });
  }

  async kill9(): Promise<void> {
    await stopServiceProcess(this.proc, 'SIGKILL', null);
  }

  async stop(): Promise<void> {
    await stopServiceProcess(this.proc, 'SIGTERM', null);
  }
}

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** The NDJSON execute stream, collected; `text/plain` of the result and stdout. */
async function execute(base: string, kernelId: string, code: string, signal?: AbortSignal) {
  const res = await fetch(`${base}/internal/kernels/${kernelId}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
    ...(signal ? { signal } : {}),
  });
  const lines = (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; msgType?: string; content?: Record<string, unknown> });
  const data = lines.find((l) => l.msgType === 'execute_result')?.content?.data as
    Record<string, string> | undefined;
  return { lines, result: data?.['text/plain'], reply: lines.find((l) => l.type === 'reply') };
}

describe('host worker crash recovery (kill -9)', () => {
  let host: HostWorkerProcess;
  const kernelId = `k-crash-${run}`;

  beforeAll(async () => {
    const port = await freePort();
    host = new HostWorkerProcess(`http://127.0.0.1:${port}`, {
      QUIRE_HOST_ID: `it-crash-${run}`,
      QUIRE_HOST_STATE_DIR: mkdtempSync(join(tmpdir(), 'quire-hw-crash-')),
      QUIRE_VOLUMES_DIR: mkdtempSync(join(tmpdir(), 'quire-volumes-crash-')),
      QUIRE_HOST_WORKER_PORT: String(port),
      QUIRE_WARM_POOL_SIZE: '0',
      QUIRE_LOG_LEVEL: 'warn',
    });
    await host.start();
  });

  afterAll(async () => {
    await call(host.base, 'DELETE', `/internal/kernels/${kernelId}`).catch(() => undefined);
    await host.stop();
  });

  it('re-attaches to a running kernel after kill -9 of its host worker: variables and the running cell survive', async () => {
    const started = await call(host.base, 'POST', '/internal/kernels', {
      kernelId,
      tenant: 'org-it',
      notebookId: 'nb-crash',
      userId: 'u-crash',
    });
    expect(started.status).toBe(201);
    expect((await execute(host.base, kernelId, 'x = 41\nx + 1')).result).toBe('42');

    // A cell that is still running — and printing ~1 MB, far more than a pipe
    // holds — when the host worker dies.
    const inFlight = new AbortController();
    const running = execute(
      host.base,
      kernelId,
      'import time\nfor i in range(10_000):\n    print("x" * 100)\n    if i % 1000 == 0: time.sleep(0.3)\ny = x + 1',
      inFlight.signal,
    ).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 800));
    await host.kill9();
    inFlight.abort();
    await running;

    await host.start(); // same state folder: it finds the sandbox and re-attaches
    const listed = await call(host.base, 'GET', '/internal/kernels');
    expect(listed.body.kernels).toEqual([expect.objectContaining({ kernelId, state: 'running' })]);
    // Runs after the in-flight cell finished: it carried on while nobody read its output.
    const after = await execute(host.base, kernelId, 'x, y, i');
    expect(after.result).toBe('(41, 42, 9999)');
    expect(after.reply).toMatchObject({ content: { status: 'ok' } });

    // The adopted sandbox is a normal kernel again: it ends cleanly.
    expect((await call(host.base, 'DELETE', `/internal/kernels/${kernelId}`)).status).toBe(204);
    expect((await call(host.base, 'GET', '/internal/kernels')).body.kernels).toEqual([]);
  });
});
