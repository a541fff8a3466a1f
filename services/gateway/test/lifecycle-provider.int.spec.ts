import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  uuidv7,
  type LifecycleSnapshot,
} from '@quire/contracts';
import { platformVar } from '@quire/service-kit';
import { Client, Connection } from '@temporalio/client';
import { ChannelClient, DocClient, until } from './support/clients';
import {
  bootGateway,
  createNotebook,
  signup,
  startDocSync,
  startHostWorker,
  startWorkflowWorker,
  type GatewayUnderTest,
  type ServiceProcess,
} from './support/harness';

jest.setTimeout(600_000);

/**
 * The production path for kernels: the gateway asks the kernelLifecycle
 * workflow (update-with-start of ensureRunning) on the real Temporal, with the
 * real workflow worker process and a host worker announcing itself on Kafka.
 */
describe('gateway with the lifecycle kernel provider', () => {
  const taskQueue = `gw-lifecycle-${uuidv7().slice(-8)}`;
  let docSync: ServiceProcess;
  let host: ServiceProcess;
  let worker: ServiceProcess;
  let gw: GatewayUnderTest;
  let connection: Connection;

  beforeAll(async () => {
    [docSync, host, worker] = await Promise.all([
      startDocSync(),
      startHostWorker(),
      startWorkflowWorker(taskQueue),
    ]);
    gw = await bootGateway({
      QUIRE_DOC_SYNC_URL: docSync.base,
      QUIRE_KERNEL_PROVIDER: 'lifecycle',
      QUIRE_LIFECYCLE_TASK_QUEUE: taskQueue,
    });
    connection = await Connection.connect({ address: platformVar('QUIRE_TEMPORAL_ADDRESS') });
  });

  afterAll(async () => {
    await gw?.close();
    await connection?.close();
    await Promise.all([docSync?.stop(), worker?.stop(), host?.stop()]);
  });

  it('runs a cell on a kernel the lifecycle workflow placed, and the workflow knows it runs', async () => {
    const alice = await signup(gw.base, 'alice', 'Lifecycle Org');
    const nb = await createNotebook(gw.base, alice.token, 'Lifecycle');
    const doc = await DocClient.open(gw.base, alice.token, nb.id);
    doc.addCode('c1', 'print("placed by the lifecycle")');
    await until('cell synced', () => doc.cell('c1'));
    const ch = await ChannelClient.open(
      `ws://127.0.0.1:${gw.port}/api/notebooks/${nb.id}/kernel-channel`,
      alice.token,
    );
    const [executionId] = await ch.run(['c1']);
    expect(await ch.finished(executionId!, 240_000)).toMatchObject({ status: 'ok' });
    await until('output', () => doc.stdout('c1') === 'placed by the lifecycle\n', 30_000);
    const client = new Client({ connection });
    const state = await client.workflow
      .getHandle(kernelLifecycleWorkflowId(nb.kernelId))
      .query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);
    // Placement may pick any live host on this Kafka (other suites run hosts too); ours is one of them.
    expect(state).toMatchObject({ kernelId: nb.kernelId, notebookId: nb.id });
    expect(state.hostApiUrl).toMatch(/^http:\/\//);
    expect(['RUNNING', 'IDLE']).toContain(state.state);
    ch.close();
    doc.close();
  });
});
