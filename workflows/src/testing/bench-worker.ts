import { TASK_QUEUES } from '@quire/contracts';
import { NativeConnection, Worker } from '@temporalio/worker';
import { FakeHostFleet } from './fake-host-fleet';

/**
 * A lifecycle worker with fake host activities (in-memory fleet), for the
 * lifecycle benchmark in load-tests/src/lifecycle/: it measures the workflow
 * and Temporal, not gVisor. Prints `ready` on stdout once polling.
 *
 *   QUIRE_TEMPORAL_ADDRESS=… BENCH_TASK_QUEUE=… node -r @swc-node/register workflows/src/testing/bench-worker.ts
 */
async function main(): Promise<void> {
  const address = process.env.QUIRE_TEMPORAL_ADDRESS;
  if (!address) throw new Error('QUIRE_TEMPORAL_ADDRESS is not set');
  const taskQueue = process.env.BENCH_TASK_QUEUE ?? `${TASK_QUEUES.kernelLifecycle}-bench`;
  const fleet = new FakeHostFleet(['bench-host-1', 'bench-host-2', 'bench-host-3', 'bench-host-4'], {
    warmPool: 1_000_000,
  });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: fleet.activities(),
    maxConcurrentWorkflowTaskExecutions: 200,
    maxConcurrentActivityTaskExecutions: 400,
    maxCachedWorkflows: 2000,
  });
  process.once('SIGTERM', () => worker.shutdown());
  const running = worker.run();
  process.stdout.write('ready\n');
  // Progress for the driver, without a query per workflow: kernels allocated and hibernated so far.
  const count = (name: string) =>
    new Set(fleet.calls.filter((c) => c.name === name).map((c) => c.kernelId)).size;
  const progress = setInterval(
    () => process.stdout.write(`progress ${count('allocateKernel')} ${count('snapshotKernel')}\n`),
    250,
  );
  void running.finally(() => clearInterval(progress));
  await running;
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
