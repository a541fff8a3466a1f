import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Readiness, SERVICE_LOGGER, type JsonLogger } from '@quire/service-kit';
import { GPU_SCHEDULER_CONFIG, type GpuSchedulerConfig } from '../config';
import { SchedulerRuntime } from './scheduler-runtime';

/** The scheduler runtime inside Nest: started with the module, readiness on PostgreSQL, stopped on shutdown. */
@Injectable()
export class RuntimeHost implements OnModuleInit, OnApplicationShutdown {
  readonly runtime: SchedulerRuntime;

  constructor(
    @Inject(GPU_SCHEDULER_CONFIG) readonly cfg: GpuSchedulerConfig,
    @Inject(Readiness) private readonly readiness: Readiness,
    @Inject(SERVICE_LOGGER) private readonly logger: JsonLogger,
  ) {
    this.runtime = new SchedulerRuntime(cfg, logger);
  }

  async onModuleInit(): Promise<void> {
    await this.runtime.start();
    this.logger.info('gpu-scheduler started', { schema: this.cfg.QUIRE_GPU_SCHEDULER_SCHEMA });
    this.readiness.register('postgres', async () => {
      await this.runtime.pool.query('SELECT 1');
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
  }
}
