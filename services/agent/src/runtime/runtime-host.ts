import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Readiness, SERVICE_LOGGER, type JsonLogger } from '@quire/service-kit';
import { AgentRunsService } from '../api/agent-runs.service';
import { AGENT_CONFIG, type AgentConfig } from '../config';
import { AgentRuntime } from './agent-runtime';

/** The agent runtime inside Nest: started with the app, stopped (worker drained) on shutdown. */
@Injectable()
export class RuntimeHost implements OnModuleInit, OnApplicationShutdown {
  readonly runtime: AgentRuntime;
  readonly runs: AgentRunsService;

  constructor(
    @Inject(AGENT_CONFIG) readonly cfg: AgentConfig,
    @Inject(Readiness) private readonly readiness: Readiness,
    @Inject(SERVICE_LOGGER) private readonly logger: JsonLogger,
  ) {
    this.runtime = new AgentRuntime(cfg, logger);
    this.runs = new AgentRunsService(this.runtime);
  }

  async onModuleInit(): Promise<void> {
    await this.runtime.start();
    this.logger.info('agent runtime started', {
      role: this.cfg.QUIRE_AGENT_ROLE,
      taskQueue: this.runtime.taskQueue,
      llm: { kind: this.cfg.QUIRE_AGENT_LLM_KIND, model: this.cfg.QUIRE_AGENT_LLM_MODEL },
    });
    this.readiness.register('postgres', async () => {
      await this.runtime.pool.query('SELECT 1');
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
  }
}
