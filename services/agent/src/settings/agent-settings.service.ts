import { PutAgentSettingsRequest, type AgentSettingsDto } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { Pool } from 'pg';
import type { LlmProviderConfig } from '../llm/llm-provider';
import { AgentSettingsRepository, type StoredAgentSettings } from './agent-settings.repository';
import { SettingsCipher, SettingsKeyError } from './settings-cipher';

/** Who asks, from the caller headers the gateway sets (AGENT_CALLER_HEADERS). */
export interface SettingsCaller {
  userId: string;
  orgId: string;
  orgRole: 'admin' | 'member' | null;
}

/** The deployment's default provider (QUIRE_AGENT_LLM_*), used by orgs that set none. */
export type DefaultLlm = LlmProviderConfig;

/**
 * Per-org LLM provider settings: read and written by org admins, resolved
 * (key decrypted) for each LLM call of a run. The key is never returned and
 * never logged; errors about it name the org and the settings key id only.
 */
export class AgentSettingsService {
  private readonly repo: AgentSettingsRepository;

  constructor(
    pool: Pool,
    schema: string,
    /** null when QUIRE_AGENT_SETTINGS_KEY is not set: settings without a key still work. */
    private readonly cipher: SettingsCipher | null,
    private readonly fallback: DefaultLlm,
  ) {
    this.repo = new AgentSettingsRepository(pool, schema);
  }

  async get(caller: SettingsCaller, orgId: string): Promise<AgentSettingsDto> {
    this.mustAdminister(caller, orgId);
    return this.dto(orgId, await this.repo.get(orgId));
  }

  async put(caller: SettingsCaller, orgId: string, body: unknown): Promise<AgentSettingsDto> {
    this.mustAdminister(caller, orgId);
    const parsed = PutAgentSettingsRequest.safeParse(body ?? {});
    if (!parsed.success)
      throw new QuireError(
        'validation',
        parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
        'agent.invalid_settings',
      );
    const req = parsed.data;
    let apiKey: { sealed: ReturnType<SettingsCipher['seal']>; last4: string } | null | undefined;
    if (typeof req.apiKey === 'string') {
      if (!this.cipher)
        throw new QuireError(
          'unavailable',
          'this agent service cannot store API keys: QUIRE_AGENT_SETTINGS_KEY is not set (tell your operator)',
          'agent.settings_key_missing',
        );
      apiKey = { sealed: this.cipher.seal(req.apiKey, orgId), last4: req.apiKey.slice(-4) };
    } else apiKey = req.apiKey === null ? null : undefined;
    await this.repo.put(
      {
        orgId,
        kind: req.kind,
        baseUrl: req.baseUrl,
        model: req.model,
        pricePrompt: req.pricePerMTokens.prompt,
        priceCompletion: req.pricePerMTokens.completion,
        updatedBy: caller.userId,
      },
      apiKey,
    );
    return this.dto(orgId, await this.repo.get(orgId));
  }

  /** The provider a run of this org uses now (its settings, else the deployment default), key decrypted. */
  async providerFor(orgId: string): Promise<LlmProviderConfig & { source: 'org' | 'default' }> {
    const s = await this.repo.get(orgId);
    if (!s) return { ...this.fallback, source: 'default' };
    let apiKey: string | null = null;
    if (s.apiKey) {
      if (!this.cipher)
        throw new SettingsKeyError(
          `org ${orgId} has an LLM API key stored, but QUIRE_AGENT_SETTINGS_KEY is not set on this agent service`,
        );
      apiKey = this.cipher.open(s.apiKey, orgId);
    }
    return {
      kind: s.kind,
      baseUrl: s.baseUrl,
      model: s.model,
      apiKey,
      pricePerMTokens: { prompt: s.pricePrompt, completion: s.priceCompletion },
      source: 'org',
    };
  }

  private mustAdminister(caller: SettingsCaller, orgId: string): void {
    if (caller.orgId !== orgId)
      throw new QuireError('not_found', 'there is no such organisation', 'agent.org_not_found');
    if (caller.orgRole !== 'admin')
      throw new QuireError(
        'forbidden',
        "only the organisation's admins can see or change its agent settings",
        'access.not_admin',
      );
  }

  private dto(orgId: string, s: StoredAgentSettings | null): AgentSettingsDto {
    if (!s)
      return {
        orgId,
        source: 'default',
        kind: this.fallback.kind,
        baseUrl: this.fallback.baseUrl,
        model: this.fallback.model,
        pricePerMTokens: this.fallback.pricePerMTokens,
        hasKey: this.fallback.apiKey !== null,
        keyLast4: null,
        updatedBy: null,
        updatedAt: null,
      };
    return {
      orgId,
      source: 'org',
      kind: s.kind,
      baseUrl: s.baseUrl,
      model: s.model,
      pricePerMTokens: { prompt: s.pricePrompt, completion: s.priceCompletion },
      hasKey: s.apiKey !== null,
      keyLast4: s.apiKeyLast4,
      updatedBy: s.updatedBy,
      updatedAt: s.updatedAt.toISOString(),
    };
  }
}
