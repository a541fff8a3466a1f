import type { IncomingMessage } from 'node:http';
import { closeCodeFor } from '../src/errors';
import { TokenAuth } from '../src/extensions/token-auth';
import type { ConnectContext } from '../src/server/hooks';
import { docToken, unsignedToken } from './support/tokens';

const KEY = 'k'.repeat(48);
const auth = new TokenAuth(KEY);
const ctx = (token: string | undefined, notebookId = 'nb-1'): ConnectContext => ({
  notebookId,
  request: {} as IncomingMessage,
  origin: undefined,
  token,
});

async function refusal(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: closeCodeFor(err), message: (err as Error).message };
  }
  throw new Error('expected a refusal');
}

describe('onAuthenticate: doc tokens', () => {
  it('turns a valid editor token into a writable identity', async () => {
    const id = await auth.onAuthenticate(ctx(await docToken(KEY, { nb: 'nb-1', sub: 'u-7', org: 'o-2' })));
    expect(id).toEqual({ userId: 'u-7', org: 'o-2', name: 'Ada', role: 'editor', readOnly: false });
  });

  it.each(['viewer', 'runner'] as const)('makes %s read-only', async (role) => {
    const id = await auth.onAuthenticate(ctx(await docToken(KEY, { nb: 'nb-1', role })));
    expect(id.readOnly).toBe(true);
  });

  it('lets owner and service write', async () => {
    for (const role of ['owner', 'service'] as const) {
      expect((await auth.onAuthenticate(ctx(await docToken(KEY, { nb: 'nb-1', role })))).readOnly).toBe(
        false,
      );
    }
  });

  it('refuses a missing token with 4401', async () => {
    expect(await refusal(auth.onAuthenticate(ctx(undefined)))).toMatchObject({ code: 4401 });
  });

  it('refuses an expired token', async () => {
    const t = await docToken(KEY, { nb: 'nb-1' }, { expiresIn: Math.floor(Date.now() / 1000) - 5 });
    expect(await refusal(auth.onAuthenticate(ctx(t)))).toEqual({ code: 4401, message: 'token expired' });
  });

  it('refuses alg: none', async () => {
    const t = unsignedToken({ sub: 'u', org: 'org-1', nb: 'nb-1', role: 'owner' });
    expect(await refusal(auth.onAuthenticate(ctx(t)))).toMatchObject({ code: 4401 });
  });

  it('refuses another HMAC algorithm even with the right key (algorithm pinned)', async () => {
    const t = await docToken(KEY, { nb: 'nb-1' }, { alg: 'HS512' });
    expect(await refusal(auth.onAuthenticate(ctx(t)))).toEqual({
      code: 4401,
      message: 'token algorithm not allowed (HS256 only)',
    });
  });

  it('refuses a user token (wrong audience) and a token signed with another key', async () => {
    const userTok = await docToken(KEY, { nb: 'nb-1' }, { audience: 'quire:user' });
    expect((await refusal(auth.onAuthenticate(ctx(userTok)))).message).toMatch(/aud/);
    const forged = await docToken('x'.repeat(48), { nb: 'nb-1' });
    expect(await refusal(auth.onAuthenticate(ctx(forged)))).toEqual({ code: 4401, message: 'invalid token' });
  });

  it('refuses a token for another notebook with 4403', async () => {
    const t = await docToken(KEY, { nb: 'nb-2' });
    expect(await refusal(auth.onAuthenticate(ctx(t, 'nb-1')))).toEqual({
      code: 4403,
      message: 'this token is for another notebook',
    });
  });

  it('refuses an unknown role', async () => {
    const t = await docToken(KEY, { nb: 'nb-1', role: 'admin' as never });
    expect(await refusal(auth.onAuthenticate(ctx(t)))).toMatchObject({
      code: 4401,
      message: 'unknown role admin',
    });
  });
});
