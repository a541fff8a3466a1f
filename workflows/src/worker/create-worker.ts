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
    // A prebuilt bundle (QUIRE_WORKFLOW_BUNDLE, from bundleWorkflowCode) skips webpack at start:
    // tests that kill and restart the worker many times use it.
    ...(process.env.QUIRE_WORKFLOW_BUNDLE
      ? { workflowBundle: { codePath: process.env.QUIRE_WORKFLOW_BUNDLE } }
      : { workflowsPath: require.resolve('../workflows'), bundlerOptions: { ignoreModules: [] } }),
    activities: opts.activities ?? {},
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
  return { worker, connection };
}
