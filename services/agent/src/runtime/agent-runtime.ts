import { TOPICS } from '@quire/contracts';
import { createKafka, createProducer } from '@quire/contracts/kafka';
import { createPostgresPool, runMigrations, type JsonLogger } from '@quire/service-kit';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Producer } from 'kafkajs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { createAgentActivities } from '../activities/agent-activities';
import { AgentTokens } from '../auth/agent-tokens';
import type { AgentConfig } from '../config';
import { RunEventBus } from '../events/run-event-bus';
import { createLlmProvider } from '../llm/create-llm-provider';
import type { LlmProvider } from '../llm/llm-provider';
import { AgentDocs } from '../notebook/agent-docs';
import { AgentStore } from '../store/agent-store';
import { AgentSettingsService } from '../settings/agent-settings.service';
import { RunLlmResolver } from '../settings/run-llm';
import { SettingsCipher } from '../settings/settings-cipher';

/**
 * The agent service's moving parts, usable with or without Nest: the
 * PostgreSQL schema and store, the Temporal client (API) and worker (the
 * agent-run workflow and its activities), the agent.v1 outbox publisher, the
 * live notebook connections and the LLM provider.
 */
export class AgentRuntime {
  readonly pool: Pool;
  readonly store: AgentStore;
  readonly bus = new RunEventBus();
  readonly tokens: AgentTokens;
  readonly docs: AgentDocs;
  readonly llm: LlmProvider;
  /** Per-org LLM provider settings; each run's LLM calls resolve their provider through it. */
  readonly settings: AgentSettingsService;
  private readonly runLlm: RunLlmResolver;
  client!: Client;
  private clientConnection: Connection | undefined;
  private workerConnection: NativeConnection | undefined;
  private worker: Worker | undefined;
  private workerRun: Promise<void> | undefined;
  private producer: Producer | undefined;
  private publisher: NodeJS.Timeout | undefined;
  private draining: Promise<unknown> = Promise.resolve();

  constructor(
    readonly cfg: AgentConfig,
    private readonly log: JsonLogger,
  ) {
    this.pool = createPostgresPool(cfg, `quire-agent-${cfg.QUIRE_INSTANCE_ID}`);
    this.pool.on('error', (err) => log.warn('idle PostgreSQL client error', { error: err.message }));
    this.store = new AgentStore(this.pool, cfg.QUIRE_AGENT_SCHEMA, `agent/${cfg.QUIRE_INSTANCE_ID}`);
    this.tokens = new AgentTokens(cfg.QUIRE_TOKEN_SIGNING_KEY);
    this.docs = new AgentDocs(cfg.QUIRE_DOC_SYNC_URL.replace(/^http/, 'ws').replace(/\/$/, ''), (nb, org) =>
      this.tokens.doc(nb, org),
    );
    this.llm = createLlmProvider(
      {
        kind: cfg.QUIRE_AGENT_LLM_KIND,
        baseUrl: cfg.QUIRE_AGENT_LLM_BASE_URL,
        model: cfg.QUIRE_AGENT_LLM_MODEL,
        apiKey: cfg.QUIRE_AGENT_LLM_API_KEY ?? null,
        pricePerMTokens: {
          prompt: cfg.QUIRE_AGENT_LLM_PRICE_PROMPT,
          completion: cfg.QUIRE_AGENT_LLM_PRICE_COMPLETION,
        },
      },
      { timeoutMs: cfg.QUIRE_AGENT_LLM_TIMEOUT_MS, stream: cfg.QUIRE_AGENT_LLM_STREAM },
    );
    this.settings = new AgentSettingsService(
      this.pool,
      this.store.schema,
      cfg.QUIRE_AGENT_SETTINGS_KEY
        ? SettingsCipher.fromEnv(cfg.QUIRE_AGENT_SETTINGS_KEY, cfg.QUIRE_AGENT_SETTINGS_PREVIOUS_KEYS)
        : null,
      {
        kind: cfg.QUIRE_AGENT_LLM_KIND,
        baseUrl: cfg.QUIRE_AGENT_LLM_BASE_URL,
        model: cfg.QUIRE_AGENT_LLM_MODEL,
        apiKey: cfg.QUIRE_AGENT_LLM_API_KEY ?? null,
        pricePerMTokens: {
          prompt: cfg.QUIRE_AGENT_LLM_PRICE_PROMPT,
          completion: cfg.QUIRE_AGENT_LLM_PRICE_COMPLETION,
        },
      },
    );
    this.runLlm = new RunLlmResolver(this.store, this.settings, {
      timeoutMs: cfg.QUIRE_AGENT_LLM_TIMEOUT_MS,
      stream: cfg.QUIRE_AGENT_LLM_STREAM,
    });
  }

  get taskQueue(): string {
    return this.cfg.QUIRE_AGENT_TASK_QUEUE;
  }

  async start(): Promise<void> {
    await runMigrations(this.pool, {
      schema: this.store.schema,
      dir: join(__dirname, '..', '..', 'migrations'),
    });
    this.clientConnection = await Connection.connect({ address: this.cfg.QUIRE_TEMPORAL_ADDRESS });
    this.client = new Client({
      connection: this.clientConnection,
      namespace: this.cfg.QUIRE_TEMPORAL_NAMESPACE,
    });

    this.producer = createProducer(
      createKafka({
        brokers: this.cfg.QUIRE_KAFKA_BROKERS,
        clientId: `agent-${this.cfg.QUIRE_INSTANCE_ID}`,
        ssl: this.cfg.QUIRE_KAFKA_SSL,
      }),
    );
    await this.producer.connect();
    this.publisher = setInterval(() => {
      this.draining = this.drain();
    }, this.cfg.QUIRE_AGENT_PUBLISH_INTERVAL_MS);

    if (this.cfg.QUIRE_AGENT_ROLE !== 'api') await this.startWorker();
  }

  private async drain(): Promise<void> {
    await this.draining;
    if (!this.producer) return;
    try {
      while ((await this.store.drainOutbox(this.producer, TOPICS.agent.name)) > 0) {
        // keep going while there is a backlog
      }
    } catch (err) {
      this.log.warn('agent.v1 outbox publish failed; retrying', { error: String(err) });
    }
  }

  private async startWorker(): Promise<void> {
    this.workerConnection = await NativeConnection.connect({ address: this.cfg.QUIRE_TEMPORAL_ADDRESS });
    const gatewayWs = this.cfg.QUIRE_GATEWAY_URL.replace(/^http/, 'ws').replace(/\/$/, '');
    this.worker = await Worker.create({
      connection: this.workerConnection,
      namespace: this.cfg.QUIRE_TEMPORAL_NAMESPACE,
      taskQueue: this.taskQueue,
      identity: `agent/${this.cfg.QUIRE_INSTANCE_ID}`,
      // A prebuilt bundle (bundleWorkflowCode) skips webpack at start (tests that restart the service).
      ...(process.env.QUIRE_AGENT_WORKFLOW_BUNDLE
        ? { workflowBundle: { codePath: process.env.QUIRE_AGENT_WORKFLOW_BUNDLE } }
        : { workflowsPath: require.resolve('../workflows') }),
      activities: createAgentActivities({
        store: this.store,
        docs: this.docs,
        tokens: this.tokens,
        gatewayWsBase: gatewayWs,
        llm: this.llm,
        model: this.cfg.QUIRE_AGENT_LLM_MODEL,
        pricePerMTokens: {
          prompt: this.cfg.QUIRE_AGENT_LLM_PRICE_PROMPT,
          completion: this.cfg.QUIRE_AGENT_LLM_PRICE_COMPLETION,
        },
        bus: this.bus,
        llmFor: (runId) => this.runLlm.forRun(runId),
      }),
    });
    this.workerRun = this.worker.run().catch((err: unknown) => {
      this.log.error('agent workflow worker stopped', { error: String(err) });
    });
  }

  async stop(): Promise<void> {
    if (this.publisher) clearInterval(this.publisher);
    if (this.worker && this.worker.getState() === 'RUNNING') this.worker.shutdown();
    await this.workerRun;
    await this.workerConnection?.close().catch(() => undefined);
    await this.draining;
    await this.drain();
    await this.producer?.disconnect().catch(() => undefined);
    await this.clientConnection?.close().catch(() => undefined);
    this.docs.closeAll();
    await this.pool.end().catch(() => undefined);
  }
}
