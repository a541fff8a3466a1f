import { bootstrapService } from '@quire/service-kit';
import { loadBillingConfig } from './config';

const cfg = loadBillingConfig();

if (cfg.QUIRE_BILLING_ROLE === 'worker') {
  // Consumer + metering only, no HTTP.
  void import('./worker-main');
} else {
  void bootstrapService({
    service: 'billing',
    loadModule: async () => (await import('./app.module')).AppModule,
    port: cfg.QUIRE_BILLING_PORT,
    host: cfg.QUIRE_BIND_HOST,
    logLevel: cfg.QUIRE_LOG_LEVEL,
    shutdownGraceMs: cfg.QUIRE_SHUTDOWN_GRACE_MS,
  }).catch(() => process.exit(1));
}
