import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TASK_QUEUES, type DurableTimerProbeResult } from '@quire/contracts';
import { Client, Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { createQuireWorker } from '../src/worker/create-worker';
import { freePort, TemporalDevServer } from './temporal-dev-server';

jest.setTimeout(180_000);

function binary(): string {
  const b = process.env.QUIRE_TEMPORAL_CLI;
  if (!b) throw new Error('QUIRE_TEMPORAL_CLI is not set: run integration tests through `npm test`');
  return b;
}

describe('a workflow survives a Temporal server crash and restart', () => {
  let server: TemporalDevServer;
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;

  beforeAll(async () => {
    server = new TemporalDevServer(
      binary(),
      await freePort(),
      join(mkdtempSync(join(tmpdir(), 'quire-temporal-')), 'temporal.db'),
    );
    await server.start();
  });

  afterAll(async () => {
    worker?.shutdown();
    await workerRun?.catch(() => undefined);
    await server?.kill();
  });

  it('the durable timer fires after the restart and the workflow completes with its signals', async () => {
    const taskQueue = `${TASK_QUEUES.platform}-it-${Date.now()}`;
    const built = await createQuireWorker({ address: server.address, namespace: 'default', taskQueue });
    worker = built.worker;
    workerRun = worker.run();

    let connection = await Connection.connect({ address: server.address });
    let client = new Client({ connection, namespace: 'default' });
    const workflowId = `durable-timer-${Date.now()}`;
    await client.workflow.start('durableTimerProbe', {
      taskQueue,
      workflowId,
      args: [{ sleepMs: 8000, label: 'survives-restart' }],
    });
    await client.workflow.getHandle(workflowId).signal('poke');
    // Let the worker pick it up and schedule the timer.
    const deadline = Date.now() + 20_000;
    while (
      (await client.workflow.getHandle(workflowId).query<{ signalsReceived: number }>('state'))
        .signalsReceived < 1
    ) {
      if (Date.now() > deadline) throw new Error('workflow did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    await connection.close();

    await server.kill();
    await new Promise((r) => setTimeout(r, 2000));
    await server.start();

    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection, namespace: 'default' });
    const handle = client.workflow.getHandle(workflowId);
    const description = await handle.describe();
    expect(['RUNNING', 'COMPLETED']).toContain(description.status.name);
    await handle.signal('poke');
    const result = await handle.result();
    expect(result as DurableTimerProbeResult).toEqual({
      label: 'survives-restart',
      sleptMs: 8000,
      signalsReceived: 2,
    });

    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    // The timer was started before the crash and fired after the restart.
    expect(events.filter((e) => e.timerStartedEventAttributes)).toHaveLength(1);
    expect(events.filter((e) => e.timerFiredEventAttributes)).toHaveLength(1);
    expect(events.filter((e) => e.workflowExecutionSignaledEventAttributes)).toHaveLength(2);
    await connection.close();
  });
});
