import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { HealthModule, JsonLogger, SERVICE_LOGGER } from '@quire/service-kit';
import { AgentRunsController } from './agent/agent-runs.controller';
import { AgentSettingsController } from './agent/agent-settings.controller';
import { AgentServiceClient } from './agent/agent-service.client';
import { AccessGuard } from './auth/access.guard';
import { AccessService } from './auth/access.service';
import { AuthController } from './auth/auth.controller';
import { TokenService } from './auth/tokens';
import { UsersRepository } from './auth/users.repository';
import { GatewayShutdown } from './gateway-shutdown';
import { GATEWAY_CONFIG, loadGatewayConfig, type GatewayConfig } from './config';
import { GpuOfferController } from './gpu/gpu-offer.controller';
import { GpuSchedulerClient } from './gpu/gpu-scheduler.client';
import { DocSyncClient } from './docs/doc-sync.client';
import { NotebookDocs } from './docs/notebook-docs';
import { OutputStore } from './docs/output-store';
import { ExecEvents } from './events/exec-events';
import { JupyterApiController } from './jupyter/jupyter-api.controller';
import { KernelForkController } from './kernel-fork/kernel-fork.controller';
import { JupyterRepository } from './jupyter/jupyter.repository';
import { DirectKernelProvider } from './kernels/direct-kernel-provider';
import { KERNEL_PROVIDER, type KernelProvider } from './kernels/kernel-provider';
import { KernelSessions } from './kernels/kernel-sessions';
import { KernelStatusFeed } from './kernels/kernel-status-feed';
import { LifecycleKernelProvider } from './kernels/lifecycle-kernel-provider';
import { NotebooksController } from './notebooks/notebooks.controller';
import { OrgController } from './org/org.controller';
import { OrgRepository } from './org/org.repository';
import { NotebooksRepository } from './notebooks/notebooks.repository';
import { PlatformClients } from './platform/platform-clients';
import { PlatformStatusController } from './platform/platform-status.controller';
import { BodyLimits } from './web/body-limits';
import { WebStaticMiddleware } from './web/web-static.middleware';
import { WebSocketGateway } from './ws/websocket-gateway';
import { ExecEventsPublisher } from './events/exec-events.publisher';

@Module({
  imports: [HealthModule],
  controllers: [
    AuthController,
    OrgController,
    NotebooksController,
    JupyterApiController,
    PlatformStatusController,
    AgentRunsController,
    AgentSettingsController,
    GpuOfferController,
    KernelForkController,
  ],
  providers: [
    BodyLimits,
    { provide: GATEWAY_CONFIG, useFactory: () => loadGatewayConfig() },
    {
      provide: SERVICE_LOGGER,
      useFactory: (cfg: GatewayConfig) => new JsonLogger('gateway', cfg.QUIRE_LOG_LEVEL),
      inject: [GATEWAY_CONFIG],
    },
    PlatformClients,
    {
      provide: TokenService,
      useFactory: (cfg: GatewayConfig) =>
        new TokenService(cfg.QUIRE_TOKEN_SIGNING_KEY, cfg.QUIRE_USER_TOKEN_TTL_S, cfg.QUIRE_DOC_TOKEN_TTL_S),
      inject: [GATEWAY_CONFIG],
    },
    {
      provide: UsersRepository,
      useFactory: (p: PlatformClients) => new UsersRepository(p.pg),
      inject: [PlatformClients],
    },
    {
      provide: OrgRepository,
      useFactory: (p: PlatformClients) => new OrgRepository(p.pg),
      inject: [PlatformClients],
    },
    {
      provide: NotebooksRepository,
      useFactory: (p: PlatformClients) => new NotebooksRepository(p.pg),
      inject: [PlatformClients],
    },
    {
      provide: JupyterRepository,
      useFactory: (p: PlatformClients) => new JupyterRepository(p.pg),
      inject: [PlatformClients],
    },
    {
      provide: AccessService,
      useFactory: (t: TokenService, n: NotebooksRepository, j: JupyterRepository, u: UsersRepository) =>
        new AccessService(t, n, j, async (userId, orgId) => (await u.find(userId, orgId))?.orgRole ?? null),
      inject: [TokenService, NotebooksRepository, JupyterRepository, UsersRepository],
    },
    { provide: APP_GUARD, useClass: AccessGuard },
    {
      provide: DocSyncClient,
      useFactory: (cfg: GatewayConfig, t: TokenService) => new DocSyncClient(cfg.QUIRE_DOC_SYNC_URL, t),
      inject: [GATEWAY_CONFIG, TokenService],
    },
    {
      provide: NotebookDocs,
      useFactory: (cfg: GatewayConfig, d: DocSyncClient) =>
        new NotebookDocs(
          cfg.QUIRE_DOC_SYNC_URL.replace(/^http/, 'ws').replace(/\/$/, ''),
          (nb, org) => d.serviceToken(nb, org),
          cfg.QUIRE_DOC_IDLE_CLOSE_MS,
        ),
      inject: [GATEWAY_CONFIG, DocSyncClient],
    },
    {
      provide: OutputStore,
      useFactory: (cfg: GatewayConfig, p: PlatformClients) => new OutputStore(p.s3, cfg.QUIRE_OUTPUTS_BUCKET),
      inject: [GATEWAY_CONFIG, PlatformClients],
    },
    ExecEventsPublisher,
    {
      provide: ExecEvents,
      useFactory: (p: ExecEventsPublisher, log: JsonLogger) => new ExecEvents(p.producer, log),
      inject: [ExecEventsPublisher, SERVICE_LOGGER],
    },
    {
      provide: KERNEL_PROVIDER,
      useFactory: (cfg: GatewayConfig, p: PlatformClients): KernelProvider => {
        if (cfg.QUIRE_KERNEL_PROVIDER === 'direct') {
          if (!cfg.QUIRE_HOST_WORKER_URL)
            throw new Error('QUIRE_KERNEL_PROVIDER=direct needs QUIRE_HOST_WORKER_URL');
          return new DirectKernelProvider(cfg.QUIRE_HOST_WORKER_URL);
        }
        return new LifecycleKernelProvider(
          cfg.QUIRE_TEMPORAL_ADDRESS,
          cfg.QUIRE_TEMPORAL_NAMESPACE,
          (tenant) => p.tierOf(tenant),
          cfg.QUIRE_LIFECYCLE_TASK_QUEUE,
          { policy: cfg.QUIRE_LIFECYCLE_POLICY_JSON, labels: cfg.QUIRE_LIFECYCLE_PLACEMENT_LABELS },
          cfg.QUIRE_GPU_QUEUE_POLL_MS,
        );
      },
      inject: [GATEWAY_CONFIG, PlatformClients],
    },
    {
      provide: KernelSessions,
      useFactory: (
        k: KernelProvider,
        e: ExecEvents,
        d: NotebookDocs,
        o: OutputStore,
        log: JsonLogger,
        cfg: GatewayConfig,
        gpu: GpuSchedulerClient,
      ) =>
        new KernelSessions(k, e, d, o, log, cfg.QUIRE_KERNEL_MEMORY_POLL_MS, (tenant) => gpu.offer(tenant)),
      inject: [
        KERNEL_PROVIDER,
        ExecEvents,
        NotebookDocs,
        OutputStore,
        SERVICE_LOGGER,
        GATEWAY_CONFIG,
        GpuSchedulerClient,
      ],
    },
    {
      provide: AgentServiceClient,
      useFactory: (cfg: GatewayConfig) =>
        new AgentServiceClient(cfg.QUIRE_AGENT_URL, cfg.QUIRE_INTERNAL_TOKEN),
      inject: [GATEWAY_CONFIG],
    },
    {
      provide: GpuSchedulerClient,
      useFactory: (cfg: GatewayConfig) =>
        new GpuSchedulerClient(cfg.QUIRE_GPU_SCHEDULER_URL, cfg.QUIRE_INTERNAL_TOKEN),
      inject: [GATEWAY_CONFIG],
    },
    WebSocketGateway,
    GatewayShutdown,
    KernelStatusFeed,
  ],
})
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(WebStaticMiddleware).forRoutes({ path: '{*splat}', method: RequestMethod.GET });
  }
}
