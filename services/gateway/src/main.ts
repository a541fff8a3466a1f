import { bootstrapService } from '@quire/service-kit';
import { loadGatewayConfig } from './config';

const cfg = loadGatewayConfig();

void bootstrapService({
  service: 'gateway',
  loadModule: async () => (await import('./app.module')).AppModule,
  port: cfg.QUIRE_GATEWAY_PORT,
  host: cfg.QUIRE_BIND_HOST,
  logLevel: cfg.QUIRE_LOG_LEVEL,
  shutdownGraceMs: cfg.QUIRE_SHUTDOWN_GRACE_MS,
}).catch(() => process.exit(1));
