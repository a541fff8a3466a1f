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
}

const token = (bytes: number) => randomBytes(bytes).toString('base64url');

export function loadOrCreateCredentials(stateDir: string): LocalCredentials {
  const file = join(stateDir, 'credentials.json');
  if (existsSync(file)) {
    const existing = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalCredentials>;
    // Credentials added by a later version are generated once and kept, like the first ones.
    if (typeof existing.internalToken === 'string' && existing.internalToken.length > 0)
      return existing as LocalCredentials;
    const upgraded = { ...existing, internalToken: token(32) } as LocalCredentials;
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
  };
  writeFileSync(file, JSON.stringify(creds, null, 2), { mode: 0o600 });
  return creds;
}
