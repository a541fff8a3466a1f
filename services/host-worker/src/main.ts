import { bootstrapService } from '@quire/service-kit';
import { loadHostWorkerConfig } from './config';

const cfg = loadHostWorkerConfig();

void bootstrapService({
  service: 'host-worker',
  loadModule: async () => (await import('./host-worker.module')).HostWorkerModule,
  port: cfg.QUIRE_HOST_WORKER_PORT,
  host: cfg.QUIRE_BIND_HOST,
  logLevel: cfg.QUIRE_LOG_LEVEL,
  shutdownGraceMs: cfg.QUIRE_SHUTDOWN_GRACE_MS,
}).catch(() => process.exit(1));
