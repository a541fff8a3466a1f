import { SignJWT, UnsecuredJWT } from 'jose';
import { TokenService } from './tokens';

const KEY = 'k'.repeat(48);

describe('TokenService', () => {
  const tokens = new TokenService(KEY, 3600, 600);

  it('round-trips user and doc tokens with their audiences', async () => {
    const { token } = await tokens.mintUser({ id: 'u-1', orgId: 'o-1', name: 'Ann' });
    expect(await tokens.verifyUser(token)).toMatchObject({
      sub: 'u-1',
      org: 'o-1',
      name: 'Ann',
      aud: 'quire:user',
    });
    await expect(tokens.verifyDoc(token)).rejects.toMatchObject({ code: 'auth.invalid_token' });
    const doc = await tokens.mintDoc({
      sub: 'service:gateway',
      org: 'o-1',
      name: 'Quire',
      nb: 'nb-1',
      role: 'service',
    });
    expect(await tokens.verifyDoc(doc.token)).toMatchObject({
      nb: 'nb-1',
      role: 'service',
      aud: 'quire:doc',
    });
    await expect(tokens.verifyUser(doc.token)).rejects.toMatchObject({ code: 'auth.invalid_token' });
  });

  it('refuses alg none, other algorithms, expired tokens and tokens without exp', async () => {
    const claims = { org: 'o-1', name: 'x' };
    const none = new UnsecuredJWT(claims)
      .setSubject('u-1')
      .setAudience('quire:user')
      .setExpirationTime('1h')
      .encode();
    await expect(tokens.verifyUser(none)).rejects.toMatchObject({ code: 'auth.invalid_token', status: 401 });
    const hs512 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('u-1')
      .setAudience('quire:user')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(KEY));
    await expect(tokens.verifyUser(hs512)).rejects.toMatchObject({ code: 'auth.invalid_token' });
    const expired = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u-1')
      .setAudience('quire:user')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 5)
      .sign(new TextEncoder().encode(KEY));
    await expect(tokens.verifyUser(expired)).rejects.toMatchObject({ code: 'auth.token_expired' });
    const noExp = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u-1')
      .setAudience('quire:user')
      .sign(new TextEncoder().encode(KEY));
    await expect(tokens.verifyUser(noExp)).rejects.toMatchObject({ code: 'auth.invalid_token' });
  });

  it('verifies an agent token only as an agent token, with every claim it needs', async () => {
    const key = new TextEncoder().encode(KEY);
    const mint = (claims: Record<string, unknown>, aud = 'quire:agent') =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('u-1')
        .setAudience(aud)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    const agent = await mint({ org: 'o-1', name: 'Ann', nb: 'nb-1', run: 'run-1' });
    expect(TokenService.audienceOf(agent)).toBe('quire:agent');
    expect(TokenService.audienceOf('not a jwt')).toBeNull();
    expect(await tokens.verifyAgent(agent)).toMatchObject({
      sub: 'u-1',
      nb: 'nb-1',
      run: 'run-1',
      name: 'Ann',
    });
    // Never a user token: every other route refuses it.
    await expect(tokens.verifyUser(agent)).rejects.toMatchObject({ code: 'auth.invalid_token' });
    await expect(
      tokens.verifyAgent(await mint({ org: 'o-1', name: 'Ann', run: 'run-1' })),
    ).rejects.toMatchObject({
      code: 'auth.invalid_token',
      message: 'the agent token lacks nb',
    });
    const { token: user } = await tokens.mintUser({ id: 'u-1', orgId: 'o-1', name: 'Ann' });
    await expect(tokens.verifyAgent(user)).rejects.toMatchObject({ code: 'auth.invalid_token' });
  });
});
