-- Per-org LLM provider settings, set by an org admin (src/settings/). The API key is stored only
-- encrypted (AES-256-GCM: iv ‖ tag ‖ ciphertext, the org id as AAD) with the id of the settings key
-- that encrypted it, so QUIRE_AGENT_SETTINGS_KEY can rotate; its last 4 characters are kept to show.
CREATE TABLE org_llm_settings (
  org_id              text PRIMARY KEY,
  kind                text NOT NULL CHECK (kind IN ('openai', 'anthropic', 'local')),
  base_url            text NOT NULL,
  model               text NOT NULL,
  price_prompt        numeric NOT NULL CHECK (price_prompt >= 0),
  price_completion    numeric NOT NULL CHECK (price_completion >= 0),
  api_key_sealed      bytea,
  api_key_key_id      text,
  api_key_last4       text,
  updated_by          text NOT NULL,
  updated_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK ((api_key_sealed IS NULL) = (api_key_key_id IS NULL))
);
