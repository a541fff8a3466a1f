import { QuireError } from '@quire/service-kit';
import type { IncomingMessage } from 'node:http';
import { closeCodeFor } from '../src/errors';
import { OriginAllowlist } from '../src/extensions/origin-allowlist';
import type { ConnectContext } from '../src/server/hooks';

const ctx = (origin: string | undefined): ConnectContext => ({
  notebookId: 'nb-1',
  request: {} as IncomingMessage,
  origin,
  token: undefined,
});

describe('onConnect: origin allowlist', () => {
  const ext = new OriginAllowlist(['http://127.0.0.1:8080', 'https://quire.example.com/']);

  it('lets allowed origins through (case and trailing slash do not matter)', () => {
    expect(() => ext.onConnect(ctx('http://127.0.0.1:8080'))).not.toThrow();
    expect(() => ext.onConnect(ctx('HTTPS://quire.example.com'))).not.toThrow();
  });

  it('refuses a foreign origin with 4403 and says which origin', () => {
    let err: unknown;
    try {
      ext.onConnect(ctx('https://evil.example'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QuireError);
    expect((err as Error).message).toBe('origin https://evil.example is not allowed');
    expect(closeCodeFor(err)).toBe(4403);
  });

  it('refuses a look-alike (prefix) origin', () => {
    expect(() => ext.onConnect(ctx('http://127.0.0.1:80800'))).toThrow(/not allowed/);
    expect(() => ext.onConnect(ctx('http://127.0.0.1:8080.evil.example'))).toThrow(/not allowed/);
  });

  it('lets clients without an Origin (not browsers) go on to authentication', () => {
    expect(() => ext.onConnect(ctx(undefined))).not.toThrow();
  });
});
