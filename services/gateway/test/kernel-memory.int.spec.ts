import type { AuthResponse, NotebookSummary } from '@quire/contracts';
import { ChannelClient, DocClient, until } from './support/clients';
import {
  bootGateway,
  createNotebook,
  signup,
  startDocSync,
  startHostWorker,
  type GatewayUnderTest,
  type ServiceProcess,
} from './support/harness';

jest.setTimeout(300_000);

const MiB = 1024 * 1024;

/**
 * The per-kernel memory gauge's numbers, end to end: a real host worker with
 * ipykernel in gVisor, its cgroup readings read by the gateway's poller and
 * pushed to the editor's kernel channel.
 */
describe('kernel channel: memory of the kernel', () => {
  let docSync: ServiceProcess;
  let host: ServiceProcess;
  let gw: GatewayUnderTest;
  let alice: AuthResponse;
  let nb: NotebookSummary;
  const wsUrl = () => `ws://127.0.0.1:${gw.port}/api/notebooks/${nb.id}/kernel-channel`;

  beforeAll(async () => {
    [docSync, host] = await Promise.all([startDocSync(), startHostWorker()]);
    gw = await bootGateway({
      QUIRE_DOC_SYNC_URL: docSync.base,
      QUIRE_KERNEL_PROVIDER: 'direct',
      QUIRE_HOST_WORKER_URL: host.base,
      QUIRE_KERNEL_MEMORY_POLL_MS: '500',
    });
    alice = await signup(gw.base, 'alice', 'Memory Org');
    nb = await createNotebook(gw.base, alice.token, 'Memory');
  });

  afterAll(async () => {
    // A failed test must not hang the suite on a stuck shutdown: each stop gets 20 s.
    const bounded = (p: Promise<unknown> | undefined) =>
      Promise.race([p, new Promise((r) => setTimeout(r, 20_000).unref())]);
    await bounded(gw?.close());
    await Promise.all([bounded(docSync?.stop()), bounded(host?.stop())]);
  });

  it('reports used and limit bytes, rises when a cell allocates 200 MB, and clears when the kernel stops', async () => {
    const doc = await DocClient.open(gw.base, alice.token, nb.id);
    doc.addCode('warm', 'x = 1');
    doc.addCode('alloc', 'b = bytearray(200 * 1024 * 1024)\nlen(b)');
    const a = await ChannelClient.open(wsUrl(), alice.token);
    const readings = () =>
      a
        .of('kernel_status')
        .map((m) => m.memory)
        .filter((m): m is { usedBytes: number; limitBytes: number } => m !== null);

    const warm = (await a.run(['warm']))[0]!;
    expect(await a.finished(warm, 120_000)).toMatchObject({ status: 'ok' });
    const first = await until('a memory reading', () => readings()[0], 30_000);
    expect(first.limitBytes).toBeGreaterThan(first.usedBytes);
    expect(first.usedBytes).toBeGreaterThan(10 * MiB); // a Python kernel, not an empty cgroup
    // Let the reading settle after the start, then take the baseline.
    await new Promise((r) => setTimeout(r, 1500));
    const baseline = readings().at(-1)!.usedBytes;

    const alloc = (await a.run(['alloc']))[0]!;
    expect(await a.finished(alloc, 60_000)).toMatchObject({ status: 'ok' });
    const after = await until(
      'memory up by > 150 MB',
      () => readings().find((m) => m.usedBytes > baseline + 150 * MiB),
      20_000,
    );
    expect(after.limitBytes).toBe(first.limitBytes);
    console.log(
      `kernel memory: baseline ${(baseline / MiB).toFixed(0)} MiB, after 200 MB ${(after.usedBytes / MiB).toFixed(0)} MiB, limit ${(after.limitBytes / MiB).toFixed(0)} MiB`,
    );

    // A second watcher gets the current reading at once, not a null.
    const late = await ChannelClient.open(wsUrl(), alice.token);
    const greeting = await until('status on connect', () => late.of('kernel_status')[0]);
    expect(greeting.memory?.usedBytes).toBeGreaterThan(baseline + 150 * MiB);
    late.close();

    // A stopped kernel has no memory to show.
    const stop = await a.request({ type: 'force_terminate' });
    expect(stop.type).toBe('ack');
    const dead = await until('dead status', () =>
      a.of('kernel_status').find((m) => m.status.state === 'dead'),
    );
    expect(dead.memory).toBeNull();
    a.close();
    doc.close();
  });
});
