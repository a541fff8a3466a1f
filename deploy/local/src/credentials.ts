import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Local credentials are generated on first start and kept in the state folder
 * (gitignored, mode 0600). Nothing secret is ever committed.
 */
export interface LocalCredentials {
  postgresUser: string;
  postgresPassword: string;
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
  /** HMAC key the gateway signs its access tokens with. */
  tokenSigningKey: string;
  /** Bearer token services present to each other's internal APIs (gateway → agent service). */
  internalToken: string;
  /** AES-256-GCM key (32 bytes, base64) the agent service encrypts per-org LLM API keys with. */
  agentSettingsKey: string;
}

const token = (bytes: number) => randomBytes(bytes).toString('base64url');
const aesKey = () => randomBytes(32).toString('base64');

export function loadOrCreateCredentials(stateDir: string): LocalCredentials {
  const file = join(stateDir, 'credentials.json');
  if (existsSync(file)) {
    const existing = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalCredentials>;
    // Credentials added by a later version are generated once and kept, like the first ones.
    const has = (k: keyof LocalCredentials) => typeof existing[k] === 'string' && existing[k].length > 0;
    if (has('internalToken') && has('agentSettingsKey')) return existing as LocalCredentials;
    const upgraded = {
      ...existing,
      internalToken: has('internalToken') ? existing.internalToken : token(32),
      agentSettingsKey: has('agentSettingsKey') ? existing.agentSettingsKey : aesKey(),
    } as LocalCredentials;
    writeFileSync(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 });
    return upgraded;
  }
  mkdirSync(stateDir, { recursive: true });
  const creds: LocalCredentials = {
    postgresUser: 'quire',
    postgresPassword: token(24),
    s3AccessKeyId: `quire${randomBytes(8).toString('hex')}`,
    s3SecretAccessKey: token(30),
    tokenSigningKey: token(48),
    internalToken: token(32),
    agentSettingsKey: aesKey(),
  };
  writeFileSync(file, JSON.stringify(creds, null, 2), { mode: 0o600 });
  return creds;
}
