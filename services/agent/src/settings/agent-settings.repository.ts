import type { Pool } from 'pg';
import type { SealedSecret } from './settings-cipher';

/** One org's stored LLM settings (the key only sealed). */
export interface StoredAgentSettings {
  orgId: string;
  kind: 'openai' | 'anthropic' | 'local';
  baseUrl: string;
  model: string;
  pricePrompt: string;
  priceCompletion: string;
  apiKey: SealedSecret | null;
  apiKeyLast4: string | null;
  updatedBy: string;
  updatedAt: Date;
}

/** The `org_llm_settings` table (migrations/0002_org_llm_settings.sql). */
export class AgentSettingsRepository {
  constructor(
    private readonly pool: Pool,
    private readonly schema: string,
  ) {}

  private get table(): string {
    return `${this.schema}.org_llm_settings`;
  }

  async get(orgId: string): Promise<StoredAgentSettings | null> {
    const { rows } = await this.pool.query<{
      org_id: string;
      kind: StoredAgentSettings['kind'];
      base_url: string;
      model: string;
      price_prompt: string;
      price_completion: string;
      api_key_sealed: Buffer | null;
      api_key_key_id: string | null;
      api_key_last4: string | null;
      updated_by: string;
      updated_at: Date;
    }>(
      `SELECT org_id, kind, base_url, model, price_prompt::text, price_completion::text, api_key_sealed,
              api_key_key_id, api_key_last4, updated_by, updated_at
         FROM ${this.table} WHERE org_id = $1`,
      [orgId],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      orgId: r.org_id,
      kind: r.kind,
      baseUrl: r.base_url,
      model: r.model,
      pricePrompt: r.price_prompt,
      priceCompletion: r.price_completion,
      apiKey:
        r.api_key_sealed && r.api_key_key_id ? { keyId: r.api_key_key_id, sealed: r.api_key_sealed } : null,
      apiKeyLast4: r.api_key_last4,
      updatedBy: r.updated_by,
      updatedAt: r.updated_at,
    };
  }

  /**
   * Writes the settings. `apiKey`: a sealed new key, null to remove it, undefined to keep the stored one.
   */
  async put(
    s: Omit<StoredAgentSettings, 'apiKey' | 'apiKeyLast4' | 'updatedAt'>,
    apiKey: { sealed: SealedSecret; last4: string } | null | undefined,
  ): Promise<void> {
    const keep = apiKey === undefined;
    await this.pool.query(
      `INSERT INTO ${this.table} (org_id, kind, base_url, model, price_prompt, price_completion, api_key_sealed,
                                  api_key_key_id, api_key_last4, updated_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (org_id) DO UPDATE SET kind = EXCLUDED.kind, base_url = EXCLUDED.base_url, model = EXCLUDED.model,
              price_prompt = EXCLUDED.price_prompt, price_completion = EXCLUDED.price_completion,
              api_key_sealed = CASE WHEN $11 THEN ${this.table}.api_key_sealed ELSE EXCLUDED.api_key_sealed END,
              api_key_key_id = CASE WHEN $11 THEN ${this.table}.api_key_key_id ELSE EXCLUDED.api_key_key_id END,
              api_key_last4 = CASE WHEN $11 THEN ${this.table}.api_key_last4 ELSE EXCLUDED.api_key_last4 END,
              updated_by = EXCLUDED.updated_by, updated_at = clock_timestamp()`,
      [
        s.orgId,
        s.kind,
        s.baseUrl,
        s.model,
        s.pricePrompt,
        s.priceCompletion,
        apiKey?.sealed.sealed ?? null,
        apiKey?.sealed.keyId ?? null,
        apiKey?.last4 ?? null,
        s.updatedBy,
        keep,
      ],
    );
  }
}
