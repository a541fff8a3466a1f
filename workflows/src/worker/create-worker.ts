import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';

export interface QuireWorkerOptions {
  address: string;
  namespace: string;
  taskQueue: string;
  activities?: WorkerOptions['activities'];
  identity?: string;
}

/**
 * Builds a worker over the workflows in ./workflows. Workflow code is bundled
 * by Temporal's webpack; `@quire/contracts` resolves through the workspace
 * link to TypeScript source, which the bundler compiles like our own files.
 */
export async function createQuireWorker(
  opts: QuireWorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect({ address: opts.address });
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: opts.activities ?? {},
    ...(opts.identity ? { identity: opts.identity } : {}),
    bundlerOptions: { ignoreModules: [] },
  });
  return { worker, connection };
}
