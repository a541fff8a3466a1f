import { Module } from '@nestjs/common';
import { HealthModule, JsonLogger, SERVICE_LOGGER } from '@quire/service-kit';
import { AgentRunsController, InternalTokenGuard } from './api/agent-runs.controller';
import { AGENT_CONFIG, loadAgentConfig, type AgentConfig } from './config';
import { RuntimeHost } from './runtime/runtime-host';
import { AgentSettingsController } from './settings/agent-settings.controller';

@Module({
  imports: [HealthModule],
  controllers: [AgentRunsController, AgentSettingsController],
  providers: [
    { provide: AGENT_CONFIG, useFactory: () => loadAgentConfig() },
    {
      provide: SERVICE_LOGGER,
      useFactory: (cfg: AgentConfig) => new JsonLogger('agent', cfg.QUIRE_LOG_LEVEL),
      inject: [AGENT_CONFIG],
    },
    InternalTokenGuard,
    RuntimeHost,
  ],
})
export class AppModule {}
