import {
  TOKEN_ALGORITHM,
  TOKEN_AUDIENCES,
  type AgentTokenClaims,
  type DocTokenClaims,
  type NotebookRole,
  type UserTokenClaims,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { decodeJwt, jwtVerify, SignJWT, type JWTPayload } from 'jose';

/**
 * Mints and verifies Quire's signed tokens (auth-tokens.ts): HS256 only — the
 * algorithm list is pinned, so `alg: none` or RS/ES tokens are refused — and
 * `exp` and `aud` are always checked.
 */
export class TokenService {
  private readonly key: Uint8Array;

  constructor(
    signingKey: string,
    private readonly userTtlS: number,
    private readonly docTtlS: number,
  ) {
    this.key = new TextEncoder().encode(signingKey);
  }

  async mintUser(user: { id: string; orgId: string; name: string }): Promise<{ token: string; exp: number }> {
    const exp = Math.floor(Date.now() / 1000) + this.userTtlS;
    const token = await new SignJWT({ org: user.orgId, name: user.name })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT' })
      .setSubject(user.id)
      .setAudience(TOKEN_AUDIENCES.user)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, exp };
  }

  async mintDoc(claims: {
    sub: string;
    org: string;
    name: string;
    nb: string;
    role: NotebookRole | 'service';
  }): Promise<{ token: string; exp: number }> {
    const exp = Math.floor(Date.now() / 1000) + this.docTtlS;
    const token = await new SignJWT({ org: claims.org, name: claims.name, nb: claims.nb, role: claims.role })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT' })
      .setSubject(claims.sub)
      .setAudience(TOKEN_AUDIENCES.doc)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, exp };
  }

  async verifyUser(token: string): Promise<UserTokenClaims> {
    const p = await this.verify(token, TOKEN_AUDIENCES.user);
    if (typeof p.sub !== 'string' || typeof p.org !== 'string')
      throw new QuireError('unauthorized', 'token lacks subject or org', 'auth.invalid_token');
    return p as unknown as UserTokenClaims;
  }

  /** An agent run's token (minted by the agent service): one notebook's kernel channel, nothing else. */
  async verifyAgent(token: string): Promise<AgentTokenClaims> {
    const p = await this.verify(token, TOKEN_AUDIENCES.agent);
    for (const claim of ['sub', 'org', 'name', 'nb', 'run'] as const)
      if (typeof p[claim] !== 'string' || !p[claim])
        throw new QuireError('unauthorized', `the agent token lacks ${claim}`, 'auth.invalid_token');
    return p as unknown as AgentTokenClaims;
  }

  async verifyDoc(token: string): Promise<DocTokenClaims> {
    return (await this.verify(token, TOKEN_AUDIENCES.doc)) as unknown as DocTokenClaims;
  }

  /** The audience a token claims, unverified: only to pick which verification applies. */
  static audienceOf(token: string): string | null {
    try {
      const aud = decodeJwt(token).aud;
      return typeof aud === 'string' ? aud : null;
    } catch {
      return null;
    }
  }

  private async verify(token: string, audience: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [TOKEN_ALGORITHM],
        audience,
        requiredClaims: ['exp', 'sub'],
      });
      return payload;
    } catch (err) {
      const expired = (err as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw new QuireError(
        'unauthorized',
        expired ? 'the token has expired; sign in again' : 'the token is not valid',
        expired ? 'auth.token_expired' : 'auth.invalid_token',
        err,
      );
    }
  }
}
