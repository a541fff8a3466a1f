import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { TOPICS, uuidv7, type EventEnvelope } from '@quire/contracts';
import { createKafka, EventConsumer } from '@quire/contracts/kafka';
import { bootstrapService, freePort } from '@quire/service-kit';

jest.setTimeout(300_000);

const MiB = 1024 ** 2;
const run = uuidv7().slice(-10);

interface HostUnderTest {
  hostId: string;
  base: string;
  app: INestApplication;
  stateDir: string;
}

async function bootHost(
  hostId: string,
  stateDir: string,
  extraEnv: Record<string, string> = {},
): Promise<HostUnderTest> {
  const port = await freePort();
  Object.assign(process.env, {
    QUIRE_HOST_ID: hostId,
    QUIRE_HOST_STATE_DIR: stateDir,
    QUIRE_HOST_WORKER_PORT: String(port),
    QUIRE_HEARTBEAT_INTERVAL_MS: '1000',
    QUIRE_SNAPSHOT_MAX_RESIDENT_BYTES: String(10 * 1024 * MiB),
    ...extraEnv,
  });
  const app = await bootstrapService({
    service: `host-worker-${hostId}`,
    loadModule: async () => (await import('../src/host-worker.module')).HostWorkerModule,
    port,
    host: '127.0.0.1',
    logLevel: 'error',
  });
  return { hostId, base: `http://127.0.0.1:${port}`, app, stateDir };
}

async function call(host: HostUnderTest, method: string, path: string, body?: unknown) {
  const res = await fetch(`${host.base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Runs a cell through the NDJSON stream; answers input() with `input`. */
async function execute(host: HostUnderTest, kernelId: string, code: string, input?: string) {
  const res = await fetch(`${host.base}/internal/kernels/${kernelId}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  const lines: {
    type: string;
    msgType?: string;
    content?: Record<string, unknown>;
    message?: string;
    code?: string;
  }[] = [];
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += Buffer.from(chunk).toString('utf8');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      lines.push(line);
      if (line.type === 'input_request')
        await call(host, 'POST', `/internal/kernels/${kernelId}/input`, { value: input ?? '' });
    }
  }
  const result = lines.find((l) => l.msgType === 'execute_result')?.content?.data as
    Record<string, string> | undefined;
  const stdout = lines
    .filter((l) => l.msgType === 'stream')
    .map((l) => String(l.content?.text))
    .join('');
  return {
    lines,
    result: result?.['text/plain'],
    stdout,
    reply: lines.find((l) => l.type === 'reply'),
    error: lines.find((l) => l.type === 'error'),
  };
}

describe('host worker service: internal API, events, snapshots through S3, two hosts', () => {
  const events: EventEnvelope[] = [];
  let consumer: EventConsumer;
  let a: HostUnderTest;
  let b: HostUnderTest;
  const hostA = `it-host-a-${run}`;
  const hostB = `it-host-b-${run}`;
  const kernelId = `k-${run}`;

  const seen = (type: string, pred: (e: EventEnvelope) => boolean = () => true) =>
    events.filter((e) => e.type === `quire.host.${type}` && pred(e));
  async function until(pred: () => boolean, what: string, ms = 30_000) {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  beforeAll(async () => {
    consumer = new EventConsumer({
      kafka: createKafka({
        brokers: process.env.QUIRE_KAFKA_BROKERS!.split(','),
        clientId: 'host-worker-it',
      }),
      groupId: `host-worker-it-${run}`,
      topics: [TOPICS.hostEvents.name],
      fromBeginning: true,
      handler: async (e) => {
        if (e.subject === hostA || e.subject === hostB) events.push(e);
      },
    });
    await consumer.start();
    // Both hosts share one volumes folder, as hosts of a cluster share a filesystem.
    process.env.QUIRE_VOLUMES_DIR = mkdtempSync(join(tmpdir(), 'quire-volumes-'));
    a = await bootHost(hostA, mkdtempSync(join(tmpdir(), 'quire-hw-a-')), { QUIRE_WARM_POOL_SIZE: '1' });
    b = await bootHost(hostB, mkdtempSync(join(tmpdir(), 'quire-hw-b-')), {
      QUIRE_WARM_POOL_SIZE: '0',
      QUIRE_SNAPSHOT_MAX_RESIDENT_BYTES: String(200 * MiB),
      QUIRE_CELL_CAP_AGENT_S: '1',
    });
  });

  afterAll(async () => {
    await a?.app.close();
    await b?.app.close();
    await consumer?.stop();
  });

  it('both hosts register and heartbeat on host.events.v1', async () => {
    await until(
      () =>
        seen('HostHeartbeat', (e) => e.subject === hostA).length >= 2 &&
        seen('HostHeartbeat', (e) => e.subject === hostB).length >= 2,
      'heartbeats',
    );
    const hb = seen('HostHeartbeat', (e) => e.subject === hostA).at(-1)!.data as {
      capacity: { cpuCores: number; memoryBytes: number };
    };
    expect(hb.capacity.cpuCores).toBeGreaterThan(0);
    expect(hb.capacity.memoryBytes).toBeGreaterThan(1024 * MiB);
  });

  it('hands out a pre-booted warm-pool kernel with its user’s home volume, which follows it through hibernation to another host', async () => {
    const deadline = Date.now() + 180_000;
    while ((await call(a, 'GET', '/internal/kernels/warm-pool')).body.ready < 1) {
      if (Date.now() > deadline) throw new Error('warm pool never became ready');
      await new Promise((r) => setTimeout(r, 250));
    }
    const volume = join(process.env.QUIRE_VOLUMES_DIR!, 'org-it', 'u-pool');
    mkdirSync(volume, { recursive: true });
    writeFileSync(join(volume, 'hello.txt'), 'from the host');
    const k = `k-pool-${run}`;
    const started = await call(a, 'POST', '/internal/kernels', {
      kernelId: k,
      tenant: 'org-it',
      notebookId: 'nb-pool',
      userId: 'u-pool',
    });
    expect(started.status).toBe(201);
    expect(started.body.fromWarmPool).toBe(true);
    const cell = await execute(
      a,
      k,
      [
        'import os, numpy',
        'print(os.getcwd())',
        "print(open('hello.txt').read())",
        "open('/home/jovyan/written.txt', 'w').write('from the kernel')",
        "print(sorted(os.listdir('/home')))",
        'pooled = "still here"',
      ].join('\n'),
    );
    const failure = cell.lines.find((l) => l.msgType === 'error')?.content;
    expect({ stdout: cell.stdout, failure }).toEqual({
      stdout: "/home/jovyan\nfrom the host\n['jovyan']\n",
      failure: undefined,
    });
    expect(readFileSync(join(volume, 'written.txt'), 'utf8')).toBe('from the kernel');
    await until(
      () =>
        seen('HostHeartbeat', (e) => {
          const d = e.data as { warmPool: { target: number }; apiUrl?: string };
          return e.subject === hostA && d.warmPool.target === 1 && d.apiUrl === a.base;
        }).length > 0,
      'a heartbeat with the pool and the API URL',
    );
    await until(
      () => seen('SandboxStarted', (e) => (e.data as { kernelId: string | null }).kernelId === k).length > 0,
      'SandboxStarted',
    );
    expect(
      seen('SandboxStarted', (e) => (e.data as { kernelId: string | null }).kernelId === k)[0]!.data,
    ).toMatchObject({ fromWarmPool: true, hostId: hostA });

    // Hibernate on A, restore on B: the slot layout is rebuilt there with the same volume.
    const snap = await call(a, 'POST', `/internal/kernels/${k}/snapshot`);
    expect(snap.status).toBe(201);
    const mounts = () => readFileSync('/proc/self/mountinfo', 'utf8');
    expect(mounts()).not.toContain(`/.slots/${started.body.sandboxId}`);
    const restored = await call(b, 'POST', `/internal/kernels/${k}/restore`, {
      snapshotId: snap.body.snapshotId,
    });
    expect(restored.status).toBe(201);
    const after = await execute(b, k, "print(pooled, open('written.txt').read(), os.getcwd())");
    expect(after.stdout).toBe('still here from the kernel /home/jovyan\n');
    expect((await call(b, 'DELETE', `/internal/kernels/${k}`)).status).toBe(204);
    expect((await call(a, 'DELETE', `/internal/kernels/${k}`)).status).toBe(204);
    // Nothing of the slot stays mounted; the user's files stay in the volume.
    expect(mounts()).not.toContain(`/.slots/${started.body.sandboxId}`);
    expect(readFileSync(join(volume, 'written.txt'), 'utf8')).toBe('from the kernel');
  });

  it('starts a kernel, streams a cell, answers input(), hibernates to S3 and restores on the other host', async () => {
    const started = await call(a, 'POST', '/internal/kernels', {
      kernelId,
      tenant: 'org-it',
      notebookId: 'nb-1',
      userId: 'u-1',
    });
    expect(started.status).toBe(201);
    expect(started.body.bootMs).toBeGreaterThan(0);
    expect((await execute(a, kernelId, 'x = 41\nx + 1')).result).toBe('42');
    expect((await execute(a, kernelId, 'name = input("who? ")\nprint("hi", name)', 'Ada')).stdout).toBe(
      'hi Ada\n',
    );

    const snap = await call(a, 'POST', `/internal/kernels/${kernelId}/snapshot`);
    expect(snap.status).toBe(201);
    expect(snap.body.location).toBe(`s3://quire-snapshots/snapshots/${kernelId}/${snap.body.snapshotId}/`);
    expect(snap.body.bytes).toBeGreaterThan(1024 * 1024);
    // Hibernated on A: nothing runs there any more.
    expect((await call(a, 'GET', '/internal/kernels')).body.kernels).toEqual([
      expect.objectContaining({ kernelId, state: 'hibernated' }),
    ]);

    const restored = await call(b, 'POST', `/internal/kernels/${kernelId}/restore`, {
      snapshotId: snap.body.snapshotId,
    });
    expect(restored.status).toBe(201);
    expect(restored.body.downloadMs).toBeGreaterThan(0); // B had to fetch the image from S3
    expect((await execute(b, kernelId, 'x, name')).result).toBe("(41, 'Ada')");
    expect((await call(b, 'DELETE', `/internal/kernels/${kernelId}`)).status).toBe(204);
    // A still knew it as hibernated; the lifecycle tells it to forget (no SandboxExited: nothing ran there).
    expect((await call(a, 'DELETE', `/internal/kernels/${kernelId}`)).status).toBe(204);
    expect((await call(a, 'GET', '/internal/kernels')).body.kernels).toEqual([]);

    await until(
      () => seen('SandboxExited', (e) => (e.data as { kernelId: string }).kernelId === kernelId).length > 0,
      'SandboxExited',
    );
    const ofKernel = (e: EventEnvelope) => (e.data as { kernelId: string | null }).kernelId === kernelId;
    expect(seen('SandboxStarted', (e) => e.subject === hostA && ofKernel(e))).toEqual([
      expect.objectContaining({
        tenant: 'org-it',
        data: expect.objectContaining({ kernelId, runtime: 'gvisor' }),
      }),
    ]);
    expect(seen('SnapshotTaken', (e) => e.subject === hostA && ofKernel(e))[0]!.data).toMatchObject({
      kernelId,
      bytes: snap.body.bytes,
      trigger: 'hibernate',
    });
    expect(seen('SnapshotRestored', (e) => e.subject === hostB && ofKernel(e))[0]!.data).toMatchObject({
      kernelId,
      snapshotId: snap.body.snapshotId,
    });
    expect(seen('SandboxExited', (e) => e.subject === hostB && ofKernel(e))[0]!.data).toMatchObject({
      kernelId,
      reason: 'shutdown',
    });
    expect(
      seen(
        'SandboxExited',
        (e) => e.subject === hostA && (e.data as { kernelId: string }).kernelId === kernelId,
      ),
    ).toEqual([]);
  });

  it('reports OOM with its figures as an event and in the cell’s result', async () => {
    const oomKernel = `k-oom-${run}`;
    await call(a, 'POST', '/internal/kernels', {
      kernelId: oomKernel,
      tenant: 'org-it',
      notebookId: 'nb-2',
      userId: 'u-1',
      limits: { memoryBytes: 512 * MiB },
    });
    const { error } = await execute(a, oomKernel, 'hog = bytearray(900 * 1024 * 1024)');
    expect(error?.message).toMatch(/Kernel died \(out of memory at 0\.\d+ GiB \/ 0\.50 GiB\)/);
    await until(
      () => seen('SandboxExited', (e) => (e.data as { kernelId: string }).kernelId === oomKernel).length > 0,
      'OOM SandboxExited',
    );
    expect(
      seen('SandboxExited', (e) => (e.data as { kernelId: string }).kernelId === oomKernel)[0]!.data,
    ).toMatchObject({ reason: 'oom', memoryLimitBytes: 512 * MiB });
  });

  it('refuses to snapshot a kernel above the resident-memory threshold, with a clear reason', async () => {
    const big = `k-big-${run}`;
    await call(b, 'POST', '/internal/kernels', {
      kernelId: big,
      tenant: 'org-it',
      notebookId: 'nb-3',
      userId: 'u-1',
      limits: { memoryBytes: 1024 * MiB },
    });
    await execute(b, big, 'import numpy as np\nblob = np.ones(300 * 1024 * 1024 // 8)');
    const refused = await call(b, 'POST', `/internal/kernels/${big}/snapshot`);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      code: 'kernel.snapshot_too_big',
      detail: expect.stringMatching(/snapshots are limited to 0\.20 GiB.*Run All/),
    });
    expect((await execute(b, big, 'blob.shape')).result).toBe('(39321600,)'); // still running, untouched
    await call(b, 'DELETE', `/internal/kernels/${big}`);
  });

  it('stops an agent cell at its runtime cap (interrupt first), keeping the kernel', async () => {
    const k = `k-cap-${run}`;
    await call(b, 'POST', '/internal/kernels', {
      kernelId: k,
      tenant: 'org-it',
      notebookId: 'nb-5',
      userId: 'agent-1',
    });
    await execute(b, k, 'kept = 1');
    const t0 = Date.now();
    const res = await fetch(`${b.base}/internal/kernels/${k}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'while True:\n    pass', origin: 'agent' }),
    });
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const reply = lines.find((l) => l.type === 'reply');
    expect(reply).toMatchObject({
      capped: 'interrupted',
      content: { status: 'error', ename: 'KeyboardInterrupt' },
    });
    expect(Date.now() - t0).toBeLessThan(5000); // 1 s cap + interrupt
    expect((await execute(b, k, 'kept')).result).toBe('1');
    await call(b, 'DELETE', `/internal/kernels/${k}`);
  });

  it('%checkpoint snapshots the kernel from inside a cell, which then carries on', async () => {
    const k = `k-magic-${run}`;
    await call(a, 'POST', '/internal/kernels', {
      kernelId: k,
      tenant: 'org-it',
      notebookId: 'nb-6',
      userId: 'u-3',
    });
    const { stdout, reply } = await execute(a, k, 'x = 7\n%checkpoint\nprint("after", x)');
    expect(reply?.content).toMatchObject({ status: 'ok' });
    expect(stdout).toMatch(
      /^Checkpoint s-[0-9a-f-]+: [\d.]+ GiB in [\d.]+ s\. This kernel can be restored to this point\.\nafter 7\n$/,
    );
    await until(
      () => seen('SnapshotTaken', (e) => (e.data as { kernelId: string }).kernelId === k).length > 0,
      'SnapshotTaken',
    );
    expect(
      seen('SnapshotTaken', (e) => (e.data as { kernelId: string }).kernelId === k)[0]!.data,
    ).toMatchObject({ trigger: 'checkpoint-magic' });
    expect((await execute(a, k, 'x * 6')).result).toBe('42');
    await call(a, 'DELETE', `/internal/kernels/${k}`);
  });

  it('rejects bad requests with problem+json and unknown kernels with 404', async () => {
    const bad = await call(a, 'POST', '/internal/kernels', {
      kernelId: '../etc',
      tenant: 'org',
      notebookId: 'n',
      userId: 'u',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('request.invalid');
    expect((await call(a, 'POST', '/internal/kernels/nope/interrupt')).status).toBe(404);
  });

  it('a graceful restart hibernates running kernels, and the restarted host worker re-adopts and restores them', async () => {
    const k = `k-adopt-${run}`;
    await call(a, 'POST', '/internal/kernels', {
      kernelId: k,
      tenant: 'org-it',
      notebookId: 'nb-4',
      userId: 'u-2',
    });
    await execute(a, k, 'survivor = "me"');
    await a.app.close(); // SIGTERM path: hibernates the running kernel to S3
    a = await bootHost(hostA, a.stateDir);
    const listed = (await call(a, 'GET', '/internal/kernels')).body.kernels;
    expect(listed).toEqual([
      expect.objectContaining({ kernelId: k, state: 'hibernated', lastSnapshotId: expect.any(String) }),
    ]);
    const taken = seen('SnapshotTaken', (e) => (e.data as { kernelId: string }).kernelId === k);
    expect(taken).toHaveLength(1);
    const { snapshotId } = taken[0]!.data as { snapshotId: string };
    expect(listed[0].lastSnapshotId).toBe(snapshotId);
    expect((await call(a, 'POST', `/internal/kernels/${k}/restore`, { snapshotId })).status).toBe(201);
    expect((await execute(a, k, 'survivor')).result).toBe("'me'");
    await call(a, 'DELETE', `/internal/kernels/${k}`);
  });
});
