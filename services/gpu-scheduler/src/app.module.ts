import { Module } from '@nestjs/common';
import { HealthModule, JsonLogger, SERVICE_LOGGER } from '@quire/service-kit';
import { GpuController, InternalTokenGuard } from './api/gpu.controller';
import { GPU_SCHEDULER_CONFIG, loadGpuSchedulerConfig, type GpuSchedulerConfig } from './config';
import { RuntimeHost } from './runtime/runtime-host';

@Module({
  imports: [HealthModule],
  controllers: [GpuController],
  providers: [
    { provide: GPU_SCHEDULER_CONFIG, useFactory: () => loadGpuSchedulerConfig() },
    {
      provide: SERVICE_LOGGER,
      useFactory: (cfg: GpuSchedulerConfig) => new JsonLogger('gpu-scheduler', cfg.QUIRE_LOG_LEVEL),
      inject: [GPU_SCHEDULER_CONFIG],
    },
    InternalTokenGuard,
    RuntimeHost,
  ],
})
export class AppModule {}
