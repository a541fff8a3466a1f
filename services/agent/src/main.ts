import { bootstrapService } from '@quire/service-kit';
import { loadAgentConfig } from './config';

const cfg = loadAgentConfig();

void bootstrapService({
  service: 'agent',
  loadModule: async () => (await import('./app.module')).AppModule,
  port: cfg.QUIRE_AGENT_PORT,
  host: cfg.QUIRE_BIND_HOST,
  logLevel: cfg.QUIRE_LOG_LEVEL,
  shutdownGraceMs: cfg.QUIRE_SHUTDOWN_GRACE_MS,
}).catch(() => process.exit(1));
