import { createLlmProvider, type CreateLlmProviderOptions } from '../llm/create-llm-provider';
import type { LlmProvider } from '../llm/llm-provider';
import type { AgentSettingsService } from './agent-settings.service';

/** The LLM one call of a run uses: its org's provider (or the deployment default) and prices. */
export interface RunLlm {
  llm: LlmProvider;
  model: string;
  pricePerMTokens: { prompt: string; completion: string };
  /** Names the provider in errors, e.g. `openai at api.example.com (model gpt-4o)`; never holds the key. */
  label: string;
}

const RUN_ORG_CACHE = 10_000;

/**
 * Resolves the provider for each LLM call from the run's org settings, so a
 * change an admin makes applies from the next call on; the key is decrypted
 * for the call only and lives nowhere else (not in the workflow's input or
 * history, not in the run row).
 */
export class RunLlmResolver {
  private readonly orgOfRun = new Map<string, string>();

  constructor(
    private readonly runs: { get(runId: string): Promise<{ orgId: string } | null> },
    private readonly settings: AgentSettingsService,
    private readonly options: CreateLlmProviderOptions,
  ) {}

  async forRun(runId: string): Promise<RunLlm> {
    let orgId = this.orgOfRun.get(runId);
    if (!orgId) {
      const run = await this.runs.get(runId);
      if (!run) throw new Error(`agent run ${runId} is not in the store`);
      orgId = run.orgId;
      if (this.orgOfRun.size >= RUN_ORG_CACHE) this.orgOfRun.clear();
      this.orgOfRun.set(runId, orgId);
    }
    const cfg = await this.settings.providerFor(orgId);
    let host = cfg.baseUrl;
    try {
      host = new URL(cfg.baseUrl).host;
    } catch {
      /* keep as given */
    }
    return {
      llm: createLlmProvider(cfg, this.options),
      model: cfg.model,
      pricePerMTokens: cfg.pricePerMTokens,
      label: `${cfg.kind} at ${host} (model ${cfg.model}${cfg.source === 'org' ? ", the org's settings" : ''})`,
    };
  }
}
