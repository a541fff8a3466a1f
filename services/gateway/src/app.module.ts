import { Module } from '@nestjs/common';
import { HealthModule, JsonLogger, SERVICE_LOGGER } from '@quire/service-kit';
import { GATEWAY_CONFIG, loadGatewayConfig, type GatewayConfig } from './config';
import { PlatformClients } from './platform/platform-clients';
import { PlatformStatusController } from './platform/platform-status.controller';

@Module({
  imports: [HealthModule],
  controllers: [PlatformStatusController],
  providers: [
    { provide: GATEWAY_CONFIG, useFactory: () => loadGatewayConfig() },
    {
      provide: SERVICE_LOGGER,
      useFactory: (cfg: GatewayConfig) => new JsonLogger('gateway', cfg.QUIRE_LOG_LEVEL),
      inject: [GATEWAY_CONFIG],
    },
    PlatformClients,
  ],
})
export class AppModule {}
