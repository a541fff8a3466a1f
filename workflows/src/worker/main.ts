import { createServer } from 'node:http';
import { TASK_QUEUES } from '@quire/contracts';
import {
  JsonLogger,
  loadConfig,
  port,
  serviceConfigSchema,
  startTelemetry,
  temporalConfigSchema,
} from '@quire/service-kit';
import { z } from 'zod';
import { createQuireWorker } from './create-worker';

/**
 * The workflow worker process. It has no HTTP API of its own, only
 * /healthz and /readyz (ready = polling the server) for the supervisor and
 * Kubernetes probes.
 */
const cfg = loadConfig(
  z.object({
    ...serviceConfigSchema.shape,
    ...temporalConfigSchema.shape,
    QUIRE_WORKER_HEALTH_PORT: port.default(8091),
  }),
);
startTelemetry('workflow-worker');
const logger = new JsonLogger('workflow-worker', cfg.QUIRE_LOG_LEVEL);

async function main(): Promise<void> {
  const { worker, connection } = await createQuireWorker({
    address: cfg.QUIRE_TEMPORAL_ADDRESS,
    namespace: cfg.QUIRE_TEMPORAL_NAMESPACE,
    taskQueue: TASK_QUEUES.platform,
    identity: `workflow-worker/${cfg.QUIRE_INSTANCE_ID}`,
  });
  const health = createServer((req, res) => {
    const state = worker.getState();
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
    } else if (req.url === '/readyz') {
      res
        .writeHead(state === 'RUNNING' ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ state }));
    } else {
      res.writeHead(404).end();
    }
  });
  health.listen(cfg.QUIRE_WORKER_HEALTH_PORT, cfg.QUIRE_BIND_HOST);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info('shutting down: finishing in-flight tasks', { signal });
      worker.shutdown();
    });
  }
  logger.info('worker running', { taskQueue: TASK_QUEUES.platform, address: cfg.QUIRE_TEMPORAL_ADDRESS });
  await worker.run();
  health.close();
  await connection.close();
  logger.info('worker stopped');
}

main().catch((err: unknown) => {
  logger.error('worker failed', { error: (err as Error).stack ?? String(err) });
  process.exit(1);
});
