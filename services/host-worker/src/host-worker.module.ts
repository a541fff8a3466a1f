import {
  Inject,
  Injectable,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { EventProducer, createProducer } from '@quire/contracts/kafka';
import {
  createS3Client,
  createServiceKafka,
  HealthModule,
  JsonLogger,
  Readiness,
  SERVICE_LOGGER,
} from '@quire/service-kit';
import type { Producer } from 'kafkajs';
import { KernelsController } from './api/kernels.controller';
import { HOST_WORKER_CONFIG, loadHostWorkerConfig, type HostWorkerConfig } from './config';
import { gpuDiscoveryFromSetting } from './gpu/nvidia-smi-discovery';
import { findDriverLibraries } from './gpu/driver-libraries';
import { GpuInventory } from './gpu/gpu-inventory';
import { HeartbeatLoop } from './heartbeat/heartbeat.service';
import { KernelHost } from './kernels/kernel-host';
import { SnapshotStore } from './snapshots/snapshot-store';

const KAFKA_PRODUCER = Symbol('KAFKA_PRODUCER');
const GPU_INVENTORY = Symbol('GPU_INVENTORY');

@Injectable()
class HostWorkerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private heartbeat?: HeartbeatLoop;

  constructor(
    @Inject(HOST_WORKER_CONFIG) private readonly cfg: HostWorkerConfig,
    @Inject(KAFKA_PRODUCER) private readonly producer: Producer,
    @Inject(EventProducer) private readonly events: EventProducer,
    @Inject(KernelHost) private readonly host: KernelHost,
    @Inject(Readiness) private readonly readiness: Readiness,
    @Inject(SERVICE_LOGGER) private readonly log: JsonLogger,
    @Inject(GPU_INVENTORY) private readonly gpus: GpuInventory,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.producer.connect();
    const adopted = await this.host.adoptAfterRestart();
    this.log.info('host worker registered', { hostId: this.cfg.QUIRE_HOST_ID, ...adopted });
    await this.gpus.start();
    this.log.info('GPUs discovered', {
      gpus: this.gpus.current().map((gpu) => `${gpu.index}:${gpu.gpuType}`),
    });
    this.heartbeat = new HeartbeatLoop(this.cfg, this.events, this.host, this.log, this.gpus);
    this.heartbeat.start();
    this.readiness.register('runsc', async () => {
      await this.host.runsc.list();
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.heartbeat?.stop();
    this.gpus.stop();
    // Running sandboxes would end with this process (their stdio pipes do): hibernate them first.
    const result = await this.host.hibernateAllForShutdown();
    await this.host.closeWarmPool();
    this.log.info('host worker stopping', result);
    await this.producer.disconnect();
  }
}

@Module({
  imports: [HealthModule],
  controllers: [KernelsController],
  providers: [
    { provide: HOST_WORKER_CONFIG, useFactory: () => loadHostWorkerConfig() },
    {
      provide: SERVICE_LOGGER,
      useFactory: (cfg: HostWorkerConfig) => new JsonLogger('host-worker', cfg.QUIRE_LOG_LEVEL),
      inject: [HOST_WORKER_CONFIG],
    },
    {
      provide: KAFKA_PRODUCER,
      useFactory: (cfg: HostWorkerConfig) =>
        createProducer(createServiceKafka(cfg, `host-worker-${cfg.QUIRE_HOST_ID}`)),
      inject: [HOST_WORKER_CONFIG],
    },
    {
      provide: EventProducer,
      useFactory: (p: Producer, cfg: HostWorkerConfig) =>
        new EventProducer(p, 'host-worker', cfg.QUIRE_HOST_ID),
      inject: [KAFKA_PRODUCER, HOST_WORKER_CONFIG],
    },
    {
      provide: GPU_INVENTORY,
      useFactory: (cfg: HostWorkerConfig, log: JsonLogger) =>
        new GpuInventory(
          gpuDiscoveryFromSetting(cfg.QUIRE_GPU_DISCOVERY, cfg.QUIRE_RUNSC_PATH),
          cfg.QUIRE_GPU_REFRESH_INTERVAL_MS,
          (error) => log.warn('GPU discovery failed', { error: error.message }),
        ),
      inject: [HOST_WORKER_CONFIG, SERVICE_LOGGER],
    },
    {
      provide: KernelHost,
      useFactory: (cfg: HostWorkerConfig, events: EventProducer, log: JsonLogger, gpus: GpuInventory) =>
        new KernelHost(cfg, events, new SnapshotStore(createS3Client(cfg), cfg.QUIRE_SNAPSHOT_BUCKET), log, {
          inventory: gpus,
          driverLibraries: findDriverLibraries,
        }),
      inject: [HOST_WORKER_CONFIG, EventProducer, SERVICE_LOGGER, GPU_INVENTORY],
    },
    HostWorkerLifecycle,
  ],
})
export class HostWorkerModule {}
