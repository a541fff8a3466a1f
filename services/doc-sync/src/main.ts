import { bootstrapService } from '@quire/service-kit';
import { loadDocSyncConfig } from './config';

const cfg = loadDocSyncConfig();

void bootstrapService({
  service: 'doc-sync',
  loadModule: async () => (await import('./app.module')).AppModule,
  port: cfg.QUIRE_DOC_SYNC_PORT,
  host: cfg.QUIRE_BIND_HOST,
  logLevel: cfg.QUIRE_LOG_LEVEL,
  shutdownGraceMs: cfg.QUIRE_SHUTDOWN_GRACE_MS,
}).catch(() => process.exit(1));
