import { uuidv7, type AuthResponse, type NotebookSummary } from '@quire/contracts';
import { ChannelClient, DocClient, until } from './support/clients';
import {
  api,
  bootGateway,
  createNotebook,
  joinOrg,
  signup,
  startDocSync,
  startHostWorker,
  startWorkflowWorker,
  type GatewayUnderTest,
  type ServiceProcess,
} from './support/harness';

jest.setTimeout(600_000);

const MiB = 1024 * 1024;
type Memory = { usedBytes: number; limitBytes: number };

/**
 * The memory gauge on the production kernel path: the kernelLifecycle
 * workflow places the kernel (real Temporal, workflow worker, a host worker
 * heartbeating on Kafka). The gateway reads the kernel's host from
 * ensureRunning; a gateway that never started the kernel (restarted, or
 * another instance) finds it through the workflow's state query.
 */
describe('kernel memory with the lifecycle kernel provider', () => {
  const taskQueue = `gw-memory-${uuidv7().slice(-8)}`;
  let docSync: ServiceProcess;
  let host: ServiceProcess;
  let worker: ServiceProcess;
  let gw: GatewayUnderTest | undefined;
  let alice: AuthResponse;
  let vera: AuthResponse;
  let nb: NotebookSummary;
  const env = () => ({
    QUIRE_DOC_SYNC_URL: docSync.base,
    QUIRE_KERNEL_PROVIDER: 'lifecycle',
    QUIRE_LIFECYCLE_TASK_QUEUE: taskQueue,
    QUIRE_KERNEL_MEMORY_POLL_MS: '500',
    // Kernels only on this test's host: other suites' hosts heartbeat on the same Kafka.
    QUIRE_LIFECYCLE_PLACEMENT_LABELS: `run=${taskQueue}`,
  });
  const readings = (c: ChannelClient) =>
    c
      .of('kernel_status')
      .map((m) => m.memory)
      .filter((m): m is Memory => m !== null);

  beforeAll(async () => {
    [docSync, host, worker] = await Promise.all([
      startDocSync(),
      startHostWorker({ QUIRE_HOST_LABELS: `run=${taskQueue}` }),
      startWorkflowWorker(taskQueue),
    ]);
  });

  afterAll(async () => {
    // A failed test must not hang the suite on a stuck shutdown: each stop gets 20 s.
    const bounded = (p: Promise<unknown> | undefined) =>
      Promise.race([p, new Promise((r) => setTimeout(r, 20_000).unref())]);
    await bounded(gw?.close());
    await Promise.all([bounded(docSync?.stop()), bounded(worker?.stop()), bounded(host?.stop())]);
  });

  it('shows the memory of a kernel the workflow placed, also to a viewer on a gateway that did not start it', async () => {
    gw = await bootGateway({ ...env(), QUIRE_INSTANCE_ID: `gw-mem-a-${taskQueue}` });
    alice = await signup(gw.base, 'alice', 'Lifecycle Memory Org');
    vera = await joinOrg(gw.base, alice.token, 'vera');
    nb = await createNotebook(gw.base, alice.token, 'Lifecycle memory');
    const put = await api(gw.base, 'PUT', `/api/notebooks/${nb.id}/shares`, {
      token: alice.token,
      body: { shares: [{ email: vera.user.email, role: 'viewer' }] },
    });
    expect(put.status).toBe(200);
    const doc = await DocClient.open(gw.base, alice.token, nb.id);
    doc.addCode('warm', 'x = 1');
    doc.addCode('alloc', 'b = bytearray(200 * 1024 * 1024)');
    const a = await ChannelClient.open(
      `ws://127.0.0.1:${gw.port}/api/notebooks/${nb.id}/kernel-channel`,
      alice.token,
    );
    const warm = (await a.run(['warm']))[0]!;
    expect(await a.finished(warm, 240_000)).toMatchObject({ status: 'ok' });
    await until('a memory reading', () => readings(a)[0], 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    const baseline = readings(a).at(-1)!.usedBytes;
    const alloc = (await a.run(['alloc']))[0]!;
    expect(await a.finished(alloc, 60_000)).toMatchObject({ status: 'ok' });
    const after = await until(
      'memory up by > 150 MB',
      () => readings(a).find((m) => m.usedBytes > baseline + 150 * MiB),
      20_000,
    );
    console.log(
      `lifecycle kernel memory: ${(baseline / MiB).toFixed(0)} → ${(after.usedBytes / MiB).toFixed(0)} MiB of ${(after.limitBytes / MiB).toFixed(0)} MiB`,
    );
    a.close();
    doc.close();

    // The gateway restarts; the kernel lives on (it belongs to the workflow). A viewer
    // opens the notebook on the new gateway: it never started that kernel, and a
    // viewer does not start one — the workflow's state query says where it runs.
    await gw.close();
    gw = await bootGateway({ ...env(), QUIRE_INSTANCE_ID: `gw-mem-b-${taskQueue}` });
    const v = await ChannelClient.open(
      `ws://127.0.0.1:${gw.port}/api/notebooks/${nb.id}/kernel-channel`,
      vera.token,
    );
    const seen = await until(
      'the viewer sees the running kernel and its memory',
      () => v.of('kernel_status').find((m) => m.status.state === 'idle' && m.memory !== null),
      30_000,
    );
    expect(seen.memory!.usedBytes).toBeGreaterThan(baseline + 150 * MiB);
    expect(seen.memory!.limitBytes).toBe(after.limitBytes);
    v.close();
  });
});
