import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Encrypts per-org LLM API keys at rest: AES-256-GCM (node:crypto), a fresh
 * 12-byte IV per value, the org id as additional authenticated data (a
 * ciphertext copied to another org's row does not decrypt). Each ciphertext
 * is stored with the id of the key that made it (the first 16 hex digits of
 * the key's SHA-256), so the key can rotate: the current key
 * (QUIRE_AGENT_SETTINGS_KEY) encrypts, it and the previous keys
 * (QUIRE_AGENT_SETTINGS_PREVIOUS_KEYS) decrypt.
 */
export interface SealedSecret {
  keyId: string;
  /** iv (12 bytes) ‖ auth tag (16 bytes) ‖ ciphertext. */
  sealed: Buffer;
}

export class SettingsKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsKeyError';
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A 32-byte key from its base64 form, or a clear error naming the variable. */
export function parseSettingsKey(b64: string, variable = 'QUIRE_AGENT_SETTINGS_KEY'): Buffer {
  const trimmed = b64.trim();
  const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0);
  if (key.length !== 32)
    throw new SettingsKeyError(
      `${variable} must be 32 random bytes in base64 (e.g. \`openssl rand -base64 32\`); it decodes to ${key.length} bytes`,
    );
  return key;
}

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

export class SettingsCipher {
  private readonly keys = new Map<string, Buffer>();
  readonly currentKeyId: string;

  constructor(current: Buffer, previous: Buffer[] = []) {
    this.currentKeyId = keyIdOf(current);
    this.keys.set(this.currentKeyId, current);
    for (const k of previous) if (!this.keys.has(keyIdOf(k))) this.keys.set(keyIdOf(k), k);
  }

  /** From QUIRE_AGENT_SETTINGS_KEY and the comma-separated QUIRE_AGENT_SETTINGS_PREVIOUS_KEYS. */
  static fromEnv(current: string, previous?: string): SettingsCipher {
    const prev = (previous ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => parseSettingsKey(s, 'QUIRE_AGENT_SETTINGS_PREVIOUS_KEYS'));
    return new SettingsCipher(parseSettingsKey(current), prev);
  }

  seal(plaintext: string, orgId: string): SealedSecret {
    const key = this.keys.get(this.currentKeyId)!;
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(Buffer.from(orgId, 'utf8'));
    const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return { keyId: this.currentKeyId, sealed: Buffer.concat([iv, c.getAuthTag(), body]) };
  }

  open(secret: SealedSecret, orgId: string): string {
    const key = this.keys.get(secret.keyId);
    if (!key)
      throw new SettingsKeyError(
        `the LLM API key of org ${orgId} was encrypted with settings key ${secret.keyId}, which this service does not have; ` +
          'put that key in QUIRE_AGENT_SETTINGS_PREVIOUS_KEYS (or have an org admin set the API key again)',
      );
    if (secret.sealed.length < IV_BYTES + TAG_BYTES)
      throw new SettingsKeyError(`the stored LLM API key of org ${orgId} is truncated`);
    const iv = secret.sealed.subarray(0, IV_BYTES);
    const tag = secret.sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(Buffer.from(orgId, 'utf8'));
    d.setAuthTag(tag);
    try {
      return Buffer.concat([d.update(secret.sealed.subarray(IV_BYTES + TAG_BYTES)), d.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SettingsKeyError(
        `the stored LLM API key of org ${orgId} does not decrypt with settings key ${secret.keyId} (altered, or not this org's); have an org admin set it again`,
      );
    }
  }
}
