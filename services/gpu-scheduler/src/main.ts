import { bootstrapService } from '@quire/service-kit';
import { loadGpuSchedulerConfig } from './config';

const cfg = loadGpuSchedulerConfig();

void bootstrapService({
  service: 'gpu-scheduler',
  loadModule: async () => (await import('./app.module')).AppModule,
  port: cfg.QUIRE_GPU_SCHEDULER_PORT,
  host: cfg.QUIRE_BIND_HOST,
  logLevel: cfg.QUIRE_LOG_LEVEL,
  shutdownGraceMs: cfg.QUIRE_SHUTDOWN_GRACE_MS,
}).catch(() => process.exit(1));
