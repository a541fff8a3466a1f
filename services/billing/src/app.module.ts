import { Module } from '@nestjs/common';
import { HealthModule, JsonLogger, SERVICE_LOGGER } from '@quire/service-kit';
import { BillingController } from './api/billing.controller';
import { BILLING_CONFIG, loadBillingConfig, type BillingConfig } from './config';
import { RuntimeHost } from './runtime/runtime-host';

@Module({
  imports: [HealthModule],
  controllers: [BillingController],
  providers: [
    { provide: BILLING_CONFIG, useFactory: () => loadBillingConfig() },
    {
      provide: SERVICE_LOGGER,
      useFactory: (cfg: BillingConfig) => new JsonLogger('billing', cfg.QUIRE_LOG_LEVEL),
      inject: [BILLING_CONFIG],
    },
    RuntimeHost,
  ],
})
export class AppModule {}
