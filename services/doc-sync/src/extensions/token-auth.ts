import { TOKEN_ALGORITHM, TOKEN_AUDIENCES, type DocTokenClaims } from '@quire/contracts';
import { errors, jwtVerify } from 'jose';
import { DocErrors } from '../errors';
import type { ConnectContext, Extension, Identity } from '../server/hooks';

const ROLES = new Set(['owner', 'editor', 'runner', 'viewer', 'service']);
const READ_ONLY = new Set(['viewer', 'runner']);

/**
 * onAuthenticate: a doc token (auth-tokens.ts) signed with the shared key.
 * HS256 only (alg: none and every other algorithm are refused), `aud` must be
 * quire:doc, `exp` is required and checked, and the token opens exactly the
 * notebook in the URL.
 */
export class TokenAuth implements Extension {
  readonly name = 'token-auth';
  private readonly key: Uint8Array;

  constructor(signingKey: string) {
    this.key = new TextEncoder().encode(signingKey);
  }

  async onAuthenticate(ctx: ConnectContext): Promise<Identity> {
    if (!ctx.token)
      throw DocErrors.unauthenticated(
        'a doc token is required (?token= or the quire.bearer.<token> subprotocol)',
      );
    const claims = await this.verify(ctx.token);
    if (claims.nb !== ctx.notebookId) throw DocErrors.forbidden('this token is for another notebook');
    return {
      userId: claims.sub,
      org: claims.org,
      name: claims.name,
      role: claims.role,
      readOnly: READ_ONLY.has(claims.role),
    };
  }

  /** Verifies a doc token and returns its claims (also used by the internal API guard). */
  async verify(token: string): Promise<DocTokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: [TOKEN_ALGORITHM],
        audience: TOKEN_AUDIENCES.doc,
        requiredClaims: ['exp', 'sub', 'org', 'nb', 'role'],
      });
      const p = payload as Partial<DocTokenClaims>;
      if (typeof p.nb !== 'string' || typeof p.org !== 'string' || typeof p.sub !== 'string') {
        throw DocErrors.unauthenticated('token claims sub, org and nb must be strings');
      }
      if (!ROLES.has(String(p.role)))
        throw DocErrors.unauthenticated(`unknown role ${String(p.role).slice(0, 20)}`);
      return { ...p, name: typeof p.name === 'string' ? p.name : p.sub } as DocTokenClaims;
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw DocErrors.unauthenticated('token expired');
      if (err instanceof errors.JOSEAlgNotAllowed)
        throw DocErrors.unauthenticated('token algorithm not allowed (HS256 only)');
      if (err instanceof errors.JWTClaimValidationFailed) {
        throw DocErrors.unauthenticated(`token refused: ${err.claim} ${err.reason}`);
      }
      if (err instanceof errors.JOSEError) throw DocErrors.unauthenticated('invalid token');
      throw err;
    }
  }
}
