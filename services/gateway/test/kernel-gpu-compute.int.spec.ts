import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  NOTEBOOK_COMPUTE_METADATA_KEY,
  uuidv7,
  type AuthResponse,
  type GpuAllocationRequest,
  type GpuRequestState,
  type KernelChannelServerMessage,
  type LifecycleSnapshot,
  type NotebookSummary,
} from '@quire/contracts';
import { platformVar } from '@quire/service-kit';
import { Client, Connection } from '@temporalio/client';
import { ChannelClient, DocClient, until } from './support/clients';
import { FakeService, gpuOffer, json, problem } from './support/fake-internal-services';
import {
  api,
  bootGateway,
  createNotebook,
  joinOrg,
  signup,
  startDocSync,
  startWorkflowWorker,
  type GatewayUnderTest,
  type ServiceProcess,
} from './support/harness';

jest.setTimeout(300_000);

async function untilAsync(what: string, probe: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const INTERNAL_TOKEN = `it-internal-${uuidv7()}`;
type KernelStatusMessage = Extract<KernelChannelServerMessage, { type: 'kernel_status' }>;

/**
 * A notebook's compute choice on the production kernel path: the choice in
 * the document's metadata → the gateway checks it against the org's offer →
 * KernelLifecycleInput.gpu → the kernelLifecycle workflow (real Temporal, the
 * workflow worker process) asks the gpu-scheduler → its queue position and
 * ETA, as the workflow's state query tells them, reach every browser's
 * `kernel_status.gpu` as they move. The scheduler is a small fake on
 * 127.0.0.1:0 speaking gpu-scheduler-api.ts (real HTTP, every request
 * recorded, queue scripted by the test); no host is needed because no device
 * is ever granted here.
 */
describe('a notebook on a GPU: compute choice → lifecycle → queue status', () => {
  const taskQueue = `gw-gpu-${uuidv7().slice(-8)}`;
  let docSync: ServiceProcess;
  let worker: ServiceProcess;
  let gw: GatewayUnderTest;
  let alice: AuthResponse;
  let vera: AuthResponse;
  let temporal: Client;
  const started: string[] = [];

  /** The scripted queue: what the scheduler answers for each request it is asked about. */
  const queue = new Map<string, Omit<GpuRequestState, 'requestId' | 'kernelId' | 'tenant' | 'requestedAt'>>();
  const asked: GpuAllocationRequest[] = [];
  const scheduler = new FakeService(
    INTERNAL_TOKEN,
    (r, res) => {
      const url = new URL(r.url, 'http://x');
      if (url.pathname === '/api/gpu/offer') {
        const offer = gpuOffer(url.searchParams.get('tenant')!);
        offer.items.push({ ...offer.items[0]!, gpuType: 'a100-40gb', label: 'A100 40GB' });
        return json(res, 200, offer);
      }
      if (r.method === 'POST' && url.pathname === '/internal/gpu/requests') {
        const req = r.body as GpuAllocationRequest;
        asked.push(req);
        const script = queue.get(req.kernelId) ?? {
          gpuType: req.gpuType,
          profile: req.profile,
          phase: 'queued' as const,
          position: 2,
          etaS: 6,
          allocation: null,
          reason: null,
        };
        return json(res, 200, {
          ...script,
          requestId: req.requestId,
          kernelId: req.kernelId,
          tenant: req.tenant,
          requestedAt: new Date().toISOString(),
        } satisfies GpuRequestState);
      }
      const release = /^\/internal\/gpu\/requests\/([^/]+)\/release$/.exec(url.pathname);
      if (r.method === 'POST' && release) return json(res, 200, { requestId: release[1], phase: 'released' });
      return problem(res, 404, 'not_found', r.url);
    },
    /^\/internal\/gpu\//,
  );

  beforeAll(async () => {
    await scheduler.start();
    [docSync, worker] = await Promise.all([
      startDocSync(),
      startWorkflowWorker(taskQueue, { QUIRE_GPU_SCHEDULER_URL: scheduler.base }),
    ]);
    gw = await bootGateway({
      QUIRE_DOC_SYNC_URL: docSync.base,
      QUIRE_KERNEL_PROVIDER: 'lifecycle',
      QUIRE_LIFECYCLE_TASK_QUEUE: taskQueue,
      QUIRE_LIFECYCLE_PLACEMENT_LABELS: `run=${taskQueue}`,
      QUIRE_INSTANCE_ID: `gw-gpu-${taskQueue}`,
      QUIRE_INTERNAL_TOKEN: INTERNAL_TOKEN,
      QUIRE_GPU_SCHEDULER_URL: scheduler.base,
      QUIRE_GPU_QUEUE_POLL_MS: '300',
      QUIRE_AGENT_URL: 'http://127.0.0.1:9',
    });
    alice = await signup(gw.base, 'gpu-alice', `GPU Compute Org ${uuidv7()}`);
    vera = await joinOrg(gw.base, alice.token, 'gpu-vera');
    temporal = new Client({
      connection: await Connection.connect({ address: platformVar('QUIRE_TEMPORAL_ADDRESS') }),
      namespace: process.env.QUIRE_TEMPORAL_NAMESPACE ?? 'default',
    });
  });

  afterAll(async () => {
    const bounded = (p: Promise<unknown> | undefined) =>
      Promise.race([p?.catch(() => undefined), new Promise((r) => setTimeout(r, 20_000).unref())]);
    // The workflows this suite started wait in a queue that never moves: end them.
    await Promise.all(
      started.map((k) =>
        bounded(temporal.workflow.getHandle(kernelLifecycleWorkflowId(k)).terminate('test over')),
      ),
    );
    await bounded(temporal?.connection.close());
    await bounded(gw?.close());
    await Promise.all([bounded(docSync?.stop()), bounded(worker?.stop())]);
    await scheduler.stop();
  });

  async function notebookWith(
    title: string,
    compute: unknown,
  ): Promise<{ nb: NotebookSummary; doc: DocClient }> {
    const nb = await createNotebook(gw.base, alice.token, title);
    const put = await api(gw.base, 'PUT', `/api/notebooks/${nb.id}/shares`, {
      token: alice.token,
      body: { shares: [{ email: vera.user.email, role: 'viewer' }] },
    });
    expect(put.status).toBe(200);
    const doc = await DocClient.open(gw.base, alice.token, nb.id);
    doc.setNotebookMetadata(NOTEBOOK_COMPUTE_METADATA_KEY, compute);
    doc.addCode('c1', 'x = 1');
    return { nb, doc };
  }

  const channel = (nb: NotebookSummary, token: string) =>
    ChannelClient.open(`ws://127.0.0.1:${gw.port}/api/notebooks/${nb.id}/kernel-channel`, token);
  const gpuLines = (c: ChannelClient) =>
    c
      .of('kernel_status')
      .map((m: KernelStatusMessage) => m.gpu)
      .filter((g) => g);

  it('the H100 choice reaches the lifecycle input, and both collaborators see the queue position move', async () => {
    const { nb, doc } = await notebookWith('On an H100', {
      kind: 'gpu',
      gpuType: 'h100-80gb',
      profile: 'full',
      allowCpuFallback: false,
    });
    started.push(nb.kernelId);
    const a = await channel(nb, alice.token);
    const v = await channel(nb, vera.token);
    const [run] = await a.run(['c1']);

    // What the workflow asked the scheduler for is what the notebook's metadata said.
    const req = await until('the scheduler to be asked', () => asked.find((r) => r.kernelId === nb.kernelId));
    expect(req).toMatchObject({
      gpuType: 'h100-80gb',
      profile: 'full',
      allowCpuFallback: false,
      tenant: alice.org.id,
      userId: alice.user.id,
    });
    // …because the workflow was started with it (its state echoes KernelLifecycleInput.gpu).
    const handle = temporal.workflow.getHandle(kernelLifecycleWorkflowId(nb.kernelId));
    expect((await handle.query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery)).gpu).toMatchObject({
      gpuType: 'h100-80gb',
      profile: 'full',
    });
    // The scheduler's answer reaches the workflow's state a workflow task later.
    await untilAsync('the workflow to hold the queued request', async () => {
      const snap = await handle.query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);
      return snap.gpu?.phase === 'queued' && snap.gpu.position === 2;
    });

    for (const c of [a, v])
      await until('position 2 in the browser', () =>
        gpuLines(c).find((g) => g!.phase === 'queued' && g!.position === 2 && g!.etaS === 6),
      );
    expect(a.of('kernel_status').at(-1)!.status).toMatchObject({ state: 'starting' });

    // Someone ahead leaves: the scheduler says position 1; the workflow re-asks and the browsers follow.
    queue.set(nb.kernelId, {
      gpuType: 'h100-80gb',
      profile: 'full',
      phase: 'queued',
      position: 1,
      etaS: 4,
      allocation: null,
      reason: null,
    });
    for (const c of [a, v])
      await until(
        'position 1 in the browser',
        () => gpuLines(c).find((g) => g!.phase === 'queued' && g!.position === 1 && g!.etaS === 4),
        30_000,
      );

    // The scheduler refuses (quota): the run fails with its words, nothing runs on a CPU instead.
    queue.set(nb.kernelId, {
      gpuType: 'h100-80gb',
      profile: 'full',
      phase: 'rejected',
      position: null,
      etaS: null,
      allocation: null,
      reason: 'your organisation already holds its 2 GPUs',
    });
    const done = await a.finished(run!, 60_000);
    expect(done.status).toBe('kernel_died');
    const rejected = await until('the refusal in the browser', () =>
      gpuLines(v).find((g) => g!.phase === 'rejected'),
    );
    expect(rejected!.reason).toContain('already holds its 2 GPUs');
    expect(v.of('kernel_status').at(-1)!.status).toMatchObject({ state: 'dead', reason: 'start_failed' });

    // Alice picks an A100 instead: the workflow that never got a kernel keeps its old input, so the
    // gateway ends it and the next start asks for what the notebook says now.
    queue.delete(nb.kernelId);
    doc.setNotebookMetadata(NOTEBOOK_COMPUTE_METADATA_KEY, {
      kind: 'gpu',
      gpuType: 'a100-40gb',
      profile: 'full',
      allowCpuFallback: true,
    });
    const [again] = await a.run(['c1'], 20_000, doc);
    const second = await until(
      'the scheduler to be asked for an A100',
      () => asked.find((r) => r.kernelId === nb.kernelId && r.gpuType === 'a100-40gb'),
      60_000,
    );
    expect(second).toMatchObject({ profile: 'full', allowCpuFallback: true });
    for (const c of [a, v])
      await until('the A100 queue line', () =>
        gpuLines(c).find((g) => g!.gpuType === 'a100-40gb' && g!.phase === 'queued' && g!.position === 2),
      );
    await untilAsync('the new workflow to wait for an A100', async () => {
      const snap = await temporal.workflow
        .getHandle(kernelLifecycleWorkflowId(nb.kernelId))
        .query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);
      return snap.gpu?.gpuType === 'a100-40gb' && snap.gpu.phase === 'queued';
    });
    expect(a.of('execution_finished').find((m) => m.executionId === again)).toBeUndefined();
    a.close();
    v.close();
    doc.close();
  });

  it.each([
    [
      'a GPU type the org is not offered',
      { kind: 'gpu', gpuType: 'z100-1gb', profile: 'full' },
      /z100-1gb GPU, which your organisation is not offered/,
    ],
    [
      'a profile not offered',
      { kind: 'gpu', gpuType: 'h100-80gb', profile: '3g.40gb' },
      /3g\.40gb slice of a h100-80gb, which is not offered \(offered: full, 1g\.10gb\)/,
    ],
    [
      'an offer no host can run',
      { kind: 'gpu', gpuType: 'h100-80gb', profile: '1g.10gb' },
      /cannot be given to a kernel today: no host can hand a MIG slice/,
    ],
    ['a compute setting that is not one', { kind: 'tpu' }, /compute setting \(quire\.compute\) is not valid/],
  ])('%s: a clear error to the user and no kernel at all', async (_what, compute, message) => {
    const { nb, doc } = await notebookWith(`Bad compute ${uuidv7().slice(-6)}`, compute);
    const a = await channel(nb, alice.token);
    const [run] = await a.run(['c1']);
    const done = await a.finished(run!, 30_000);
    expect(done.status).toBe('kernel_died');
    const rejected = gpuLines(a).find((g) => g!.phase === 'rejected');
    expect(rejected?.reason).toMatch(message);
    expect(a.of('kernel_status').at(-1)!.status).toMatchObject({ state: 'dead', reason: 'start_failed' });
    // The bar says why, in the same words.
    expect(JSON.stringify(a.of('kernel_status').at(-1)!.status)).toMatch(message);
    // Nothing was asked of the scheduler and no lifecycle workflow exists.
    expect(asked.filter((r) => r.kernelId === nb.kernelId)).toHaveLength(0);
    await expect(
      temporal.workflow.getHandle(kernelLifecycleWorkflowId(nb.kernelId)).describe(),
    ).rejects.toThrow();
    a.close();
    doc.close();
  });
});
