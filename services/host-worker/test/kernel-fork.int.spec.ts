import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import {
  agentRunOfForkKernel,
  forkKernelIdOf,
  TOPICS,
  uuidv7,
  type EventEnvelope,
  type HostKernelSummary,
} from '@quire/contracts';
import { createKafka, EventConsumer } from '@quire/contracts/kafka';
import { DEBIAN_RUNSC_PATH, probeRunsc } from '@quire/sandbox-gvisor';
import { bootstrapService, freePort } from '@quire/service-kit';

jest.setTimeout(300_000);

const run = uuidv7().slice(-10);
const hostId = `it-host-fork-${run}`;

/** One real host worker (gVisor, ipykernel, warm pool of 1) on its own port and state folder. */
/** The host pid of a sandbox, from `runsc list` under the host worker's runsc root. */
function sandboxPid(stateDir: string, sandboxId: string): number | undefined {
  const listed = JSON.parse(
    execFileSync(
      process.env.QUIRE_RUNSC_PATH ?? DEBIAN_RUNSC_PATH,
      ['--root', join(stateDir, 'runsc'), 'list', '--format=json'],
      { encoding: 'utf8' },
    ) || '[]',
  ) as { id: string; pid: number }[] | null;
  return listed?.find((c) => c.id === sandboxId)?.pid;
}

async function bootHost(stateDir: string): Promise<{ base: string; app: INestApplication }> {
  const port = await freePort();
  Object.assign(process.env, {
    QUIRE_HOST_ID: hostId,
    QUIRE_HOST_STATE_DIR: stateDir,
    QUIRE_HOST_WORKER_PORT: String(port),
    QUIRE_HEARTBEAT_INTERVAL_MS: '1000',
    QUIRE_WARM_POOL_SIZE: '1',
    QUIRE_VOLUMES_DIR: mkdtempSync(join(tmpdir(), 'quire-volumes-')),
  });
  const app = await bootstrapService({
    service: `host-worker-${hostId}`,
    loadModule: async () => (await import('../src/host-worker.module')).HostWorkerModule,
    port,
    host: '127.0.0.1',
    logLevel: 'error',
  });
  return { base: `http://127.0.0.1:${port}`, app };
}

describe('kernel fork: a copy of a live kernel, changed without touching the original', () => {
  let host: { base: string; app: INestApplication };
  let stateDir: string;
  let consumer: EventConsumer;
  const events: EventEnvelope[] = [];
  const kernelId = `k-fork-${run}`;
  const agentRunId = uuidv7();
  const forkId = forkKernelIdOf(agentRunId, 'step-1');

  async function call(method: string, path: string, body?: unknown) {
    const res = await fetch(`${host.base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  /** A cell through the NDJSON execute stream: its stdout, result and error name. */
  async function execute(kernel: string, code: string) {
    const res = await fetch(`${host.base}/internal/kernels/${kernel}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, origin: 'agent' }),
    });
    const lines = (await res.text())
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; msgType?: string; content?: Record<string, unknown> });
    const result = lines.find((l) => l.msgType === 'execute_result')?.content?.data as
      Record<string, string> | undefined;
    return {
      stdout: lines
        .filter((l) => l.msgType === 'stream')
        .map((l) => String(l.content?.text))
        .join(''),
      result: result?.['text/plain'],
      error: lines.find((l) => l.msgType === 'error')?.content?.ename,
    };
  }

  async function until(pred: () => boolean, what: string, ms = 30_000) {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  beforeAll(async () => {
    consumer = new EventConsumer({
      kafka: createKafka({ brokers: process.env.QUIRE_KAFKA_BROKERS!.split(','), clientId: 'host-fork-it' }),
      groupId: `host-fork-it-${run}`,
      topics: [TOPICS.hostEvents.name],
      fromBeginning: true,
      handler: async (e) => {
        if (e.subject === hostId) events.push(e);
      },
    });
    await consumer.start();
    stateDir = mkdtempSync(join(tmpdir(), 'quire-hw-fork-'));
    host = await bootHost(stateDir);
    // The kernel comes from the warm pool, as most do: its home is a slot the fork must rebuild for itself.
    const deadline = Date.now() + 180_000;
    while (((await call('GET', '/internal/kernels/warm-pool')).body.ready as number) < 1) {
      if (Date.now() > deadline) throw new Error('warm pool never became ready');
      await new Promise((r) => setTimeout(r, 250));
    }
    const started = await call('POST', '/internal/kernels', {
      kernelId,
      tenant: 'org-it',
      notebookId: 'nb-fork',
      userId: 'u-fork',
    });
    expect(started).toMatchObject({ status: 201, body: { fromWarmPool: true } });
  });

  afterAll(async () => {
    await host?.app.close();
    await consumer?.stop();
  });

  it('forks a kernel holding x = 41: del x in the fork leaves the live x intact; DELETE discards the fork', async () => {
    expect(await execute(kernelId, 'x = 41\nimport os\nprint(os.getcwd())')).toMatchObject({
      stdout: '/home/jovyan\n',
      error: undefined,
    });

    // The parent's sandbox process before the fork: a runsc that resumes `checkpoint --leave-running`
    // in place keeps it; Debian's runsc (checkpoint + restore) replaces it.
    const kernels = (await call('GET', '/internal/kernels')).body.kernels as {
      kernelId: string;
      sandboxId: string;
    }[];
    const parentSandbox = kernels.find((k) => k.kernelId === kernelId)!.sandboxId;
    const pidBefore = sandboxPid(stateDir, parentSandbox);
    const forked = await call('POST', `/internal/kernels/${kernelId}/fork`, { forkKernelId: forkId });
    expect(forked.status).toBe(201);
    const inPlace = probeRunsc(process.env.QUIRE_RUNSC_PATH ?? DEBIAN_RUNSC_PATH).checkpointResumesInPlace;
    if (inPlace) expect(sandboxPid(stateDir, parentSandbox)).toBe(pidBefore);
    else expect(sandboxPid(stateDir, parentSandbox)).not.toBe(pidBefore);
    expect(forked.body).toMatchObject({
      forkKernelId: forkId,
      parentKernelId: kernelId,
      agentRunId,
      existed: false,
    });
    console.log(
      `fork: parent paused ${String(forked.body.parentPauseMs)} ms, fork ready in ${String(forked.body.totalMs)} ms, image ${String(forked.body.imageBytes)} bytes`,
    );

    // The fork has the parent's variables (and its working directory); deleting one there stays there.
    expect(await execute(forkId, 'print(x, os.getcwd())\ndel x')).toMatchObject({
      stdout: '41 /home/jovyan\n',
      error: undefined,
    });
    expect(await execute(forkId, "'x' in globals()")).toMatchObject({ result: 'False' });
    // Not isolated (README): the user's home volume, which the fork mounts too.
    await execute(forkId, "open('/home/jovyan/from-the-fork.txt', 'w').write('shared volume')");
    expect(
      readFileSync(join(process.env.QUIRE_VOLUMES_DIR!, 'org-it', 'u-fork', 'from-the-fork.txt'), 'utf8'),
    ).toBe('shared volume');
    expect(await execute(forkId, 'x')).toMatchObject({ error: 'NameError' });
    // Both run at once: the live kernel still has x.
    expect(await execute(kernelId, 'x + 1')).toMatchObject({ result: '42', error: undefined });

    // A retried request finds the same fork.
    const again = await call('POST', `/internal/kernels/${kernelId}/fork`, { forkKernelId: forkId });
    expect(again.body).toMatchObject({ forkKernelId: forkId, existed: true });

    const listed = (await call('GET', '/internal/kernels')).body.kernels as HostKernelSummary[];
    expect(listed.filter((k) => k.state === 'running').map((k) => k.kernelId)).toEqual(
      expect.arrayContaining([kernelId, forkId]),
    );
    expect(listed.find((k) => k.kernelId === forkId)).toMatchObject({
      notebookId: 'nb-fork',
      tenant: 'org-it',
      fork: { parentKernelId: kernelId, agentRunId },
    });
    expect(listed.find((k) => k.kernelId === kernelId)!.fork).toBeUndefined();

    // Host events name the fork's kernel id, which carries the agent run it is billed to.
    await until(
      () =>
        events.some(
          (e) =>
            e.type === 'quire.host.SandboxStarted' && (e.data as { kernelId: string }).kernelId === forkId,
        ),
      'SandboxStarted of the fork',
    );
    expect(agentRunOfForkKernel(forkId)).toBe(agentRunId);
    expect(agentRunOfForkKernel(kernelId)).toBeNull();

    // A fork cannot be forked, snapshotted to S3, or made from nothing.
    expect(
      (
        await call('POST', `/internal/kernels/${forkId}/fork`, {
          forkKernelId: forkKernelIdOf(agentRunId, 'x'),
        })
      ).body,
    ).toMatchObject({ code: 'kernel.is_fork' });
    expect((await call('POST', `/internal/kernels/${forkId}/snapshot`)).body).toMatchObject({
      code: 'kernel.is_fork',
    });
    expect(
      await call('POST', `/internal/kernels/k-none-${run}/fork`, {
        forkKernelId: forkKernelIdOf(agentRunId, 'y'),
      }),
    ).toMatchObject({
      status: 404,
      body: { code: 'kernel.not_found' },
    });
    expect(
      await call('POST', `/internal/kernels/${kernelId}/fork`, { forkKernelId: 'my-fork' }),
    ).toMatchObject({
      status: 400,
      body: { code: 'request.invalid' },
    });

    // Discard: the sandbox, its bundle and its image go; the live kernel carries on.
    const forkSandbox = String(forked.body.sandboxId);
    expect(existsSync(join(stateDir, 'forks', forkId, 'image'))).toBe(true);
    expect((await call('DELETE', `/internal/kernels/${forkId}`)).status).toBe(204);
    expect(existsSync(join(stateDir, 'forks', forkId))).toBe(false);
    expect(readdirSync(join(stateDir, 'bundles'))).not.toContain(forkSandbox);
    const runscIds = (
      JSON.parse(
        execFileSync(
          process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc',
          ['--root', join(stateDir, 'runsc'), 'list', '--format=json'],
          {
            encoding: 'utf8',
          },
        ) || '[]',
      ) as { id: string }[] | null
    )?.map((c) => c.id);
    expect(runscIds).not.toContain(forkSandbox);
    // Its home slot (a warm-pool kernel's layout, rebuilt for the fork) is unmounted and gone.
    expect(readdirSync(join(process.env.QUIRE_VOLUMES_DIR!, '.slots'))).not.toContain(forkSandbox);
    const after = (await call('GET', '/internal/kernels')).body.kernels as { kernelId: string }[];
    expect(after.map((k) => k.kernelId)).not.toContain(forkId);
    expect(await execute(forkId, '1')).toMatchObject({ result: undefined });
    expect(await execute(kernelId, 'x')).toMatchObject({ result: '41' });
    await until(
      () =>
        events.some(
          (e) =>
            e.type === 'quire.host.SandboxExited' && (e.data as { kernelId: string }).kernelId === forkId,
        ),
      'SandboxExited of the fork',
    );
  });

  it('refuses to fork a kernel in the middle of a cell (409 kernel.busy), and forks it once the cell is done', async () => {
    const busy = execute(kernelId, 'import time; time.sleep(2); y = 7');
    await new Promise((r) => setTimeout(r, 500));
    const refused = await call('POST', `/internal/kernels/${kernelId}/fork`, {
      forkKernelId: forkKernelIdOf(agentRunId, 'busy'),
    });
    expect(refused).toMatchObject({ status: 409, body: { code: 'kernel.busy' } });
    expect(await busy).toMatchObject({ error: undefined });
    const second = forkKernelIdOf(agentRunId, 'step-2');
    expect((await call('POST', `/internal/kernels/${kernelId}/fork`, { forkKernelId: second })).status).toBe(
      201,
    );
    expect(await execute(second, 'x, y')).toMatchObject({ result: '(41, 7)' });
    expect((await call('DELETE', `/internal/kernels/${second}`)).status).toBe(204);
  });
});
