import { createServer } from 'node:http';
import { TASK_QUEUES } from '@quire/contracts';
import { JsonLogger, loadConfig, port, startTelemetry } from '@quire/service-kit';
import { z } from 'zod';
import { createQuireWorker } from './create-worker';
import { lifecycleConfigSchema, startLifecycleRuntime } from './lifecycle-runtime';

/**
 * The workflow worker process: the platform queue (durable timer probe) and
 * the kernel lifecycle queue, plus what the lifecycle needs beside Temporal
 * (host registry, placement, Kafka → Temporal bridge, host-lost watchdog; see
 * lifecycle-runtime.ts). No HTTP API of its own, only /healthz and /readyz
 * (ready = both workers polling) for the supervisor and Kubernetes probes.
 */
const cfg = loadConfig(
  z.object({
    ...lifecycleConfigSchema.shape,
    QUIRE_WORKER_HEALTH_PORT: port.default(8091),
    /** Task queue override (tests run isolated workers on a queue of their own). */
    QUIRE_LIFECYCLE_TASK_QUEUE: z.string().default(TASK_QUEUES.kernelLifecycle),
  }),
);
startTelemetry('workflow-worker');
const logger = new JsonLogger('workflow-worker', cfg.QUIRE_LOG_LEVEL);

async function main(): Promise<void> {
  const runtime = await startLifecycleRuntime(cfg, logger);
  const identity = `workflow-worker/${cfg.QUIRE_INSTANCE_ID}`;
  const platform = await createQuireWorker({
    address: cfg.QUIRE_TEMPORAL_ADDRESS,
    namespace: cfg.QUIRE_TEMPORAL_NAMESPACE,
    taskQueue: TASK_QUEUES.platform,
    identity,
  });
  const lifecycle = await createQuireWorker({
    address: cfg.QUIRE_TEMPORAL_ADDRESS,
    namespace: cfg.QUIRE_TEMPORAL_NAMESPACE,
    taskQueue: cfg.QUIRE_LIFECYCLE_TASK_QUEUE,
    activities: runtime.activities,
    identity,
  });
  const workers = [platform.worker, lifecycle.worker];
  if (cfg.QUIRE_WARM_POOL_AUTOSCALE_INTERVAL_MS > 0) {
    // One autoscaler per task queue (= deployment): a fixed id; a second worker instance finds it running.
    await runtime.client.workflow
      .start('warmPoolAutoscaler', {
        workflowId: `warm-pool-autoscaler:${cfg.QUIRE_LIFECYCLE_TASK_QUEUE}`,
        taskQueue: cfg.QUIRE_LIFECYCLE_TASK_QUEUE,
        args: [{ intervalMs: cfg.QUIRE_WARM_POOL_AUTOSCALE_INTERVAL_MS, roundsPerRun: 500 }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      })
      .catch((err: Error) => logger.warn('warm pool autoscaler not started', { error: err.message }));
  }
  const health = createServer((req, res) => {
    const states = workers.map((w) => w.getState());
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
    } else if (req.url === '/readyz') {
      res
        .writeHead(states.every((s) => s === 'RUNNING') ? 200 : 503, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({
            states,
            bridge: runtime.bridge.stats,
            hosts: runtime.registry.aliveHosts().length,
          }),
        );
    } else {
      res.writeHead(404).end();
    }
  });
  health.listen(cfg.QUIRE_WORKER_HEALTH_PORT, cfg.QUIRE_BIND_HOST);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info('shutting down: finishing in-flight tasks', { signal });
      workers.forEach((w) => w.shutdown());
    });
  }
  logger.info('worker running', {
    taskQueues: [TASK_QUEUES.platform, cfg.QUIRE_LIFECYCLE_TASK_QUEUE],
    address: cfg.QUIRE_TEMPORAL_ADDRESS,
  });
  await Promise.all(workers.map((w) => w.run()));
  health.close();
  await runtime.stop();
  await Promise.all([platform.connection.close(), lifecycle.connection.close()]);
  logger.info('worker stopped');
}

main().catch((err: unknown) => {
  logger.error('worker failed', { error: (err as Error).stack ?? String(err) });
  process.exit(1);
});
