import { randomBytes } from 'node:crypto';
import { keyIdOf, parseSettingsKey, SettingsCipher, SettingsKeyError } from './settings-cipher';

describe('SettingsCipher (AES-256-GCM for per-org LLM API keys)', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);

  it('round-trips a key, with a fresh IV each time and the key id stored beside it', () => {
    const c = new SettingsCipher(k1);
    const a = c.seal('sk-live-0123456789', 'org-a');
    const b = c.seal('sk-live-0123456789', 'org-a');
    expect(a.keyId).toBe(keyIdOf(k1));
    expect(a.sealed.equals(b.sealed)).toBe(false);
    expect(a.sealed.includes(Buffer.from('sk-live'))).toBe(false);
    expect(c.open(a, 'org-a')).toBe('sk-live-0123456789');
  });

  it('fails clearly under the wrong key, naming the missing key id and what to do', () => {
    const sealed = new SettingsCipher(k1).seal('sk-x', 'org-a');
    const other = new SettingsCipher(k2);
    expect(() => other.open(sealed, 'org-a')).toThrow(SettingsKeyError);
    expect(() => other.open(sealed, 'org-a')).toThrow(
      new RegExp(`settings key ${keyIdOf(k1)}.*QUIRE_AGENT_SETTINGS_PREVIOUS_KEYS`),
    );
    // A wrong key that claims the right id (a key file swapped) fails on the tag, not with garbage.
    const forged = { ...sealed, keyId: keyIdOf(k2) };
    expect(() => other.open(forged, 'org-a')).toThrow(/does not decrypt/);
  });

  it('refuses a tampered ciphertext, a tampered tag and another org’s row', () => {
    const c = new SettingsCipher(k1);
    const s = c.seal('sk-secret', 'org-a');
    const flip = (i: number) => {
      const copy = Buffer.from(s.sealed);
      copy[i] = copy[i]! ^ 0x01;
      return { ...s, sealed: copy };
    };
    expect(() => c.open(flip(s.sealed.length - 1), 'org-a')).toThrow(/does not decrypt/);
    expect(() => c.open(flip(14), 'org-a')).toThrow(/does not decrypt/);
    expect(() => c.open(flip(0), 'org-a')).toThrow(/does not decrypt/);
    expect(() => c.open(s, 'org-b')).toThrow(/does not decrypt/);
    expect(() => c.open({ ...s, sealed: s.sealed.subarray(0, 10) }, 'org-a')).toThrow(/truncated/);
  });

  it('rotates: the new key encrypts, the previous one still decrypts old values', () => {
    const old = new SettingsCipher(k1).seal('sk-old', 'org-a');
    const rotated = SettingsCipher.fromEnv(k2.toString('base64'), ` ${k1.toString('base64')} `);
    expect(rotated.open(old, 'org-a')).toBe('sk-old');
    expect(rotated.seal('sk-new', 'org-a').keyId).toBe(keyIdOf(k2));
  });

  it('refuses a key that is not 32 bytes of base64, naming the variable', () => {
    expect(() => parseSettingsKey('short')).toThrow(/QUIRE_AGENT_SETTINGS_KEY must be 32 random bytes/);
    expect(() => parseSettingsKey(randomBytes(16).toString('base64'))).toThrow(/decodes to 16 bytes/);
    expect(parseSettingsKey(k1.toString('base64')).equals(k1)).toBe(true);
  });
});
