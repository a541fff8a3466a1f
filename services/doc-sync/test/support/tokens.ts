import { TOKEN_AUDIENCES, type DocTokenClaims } from '@quire/contracts';
import { SignJWT } from 'jose';

/** Mints doc tokens the way the gateway does (HS256, aud quire:doc). */
export async function docToken(
  key: string,
  claims: Partial<Omit<DocTokenClaims, 'aud' | 'iat' | 'exp'>> & { nb: string },
  opts: { expiresIn?: string | number; audience?: string; alg?: string } = {},
): Promise<string> {
  const jwt = new SignJWT({
    org: 'org-1',
    name: 'Ada',
    role: 'editor',
    ...claims,
  })
    .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
    .setSubject(claims.sub ?? 'user-1')
    .setIssuedAt()
    .setAudience(opts.audience ?? TOKEN_AUDIENCES.doc)
    .setExpirationTime(opts.expiresIn ?? '10m');
  return jwt.sign(new TextEncoder().encode(key));
}

/** An unsigned token (`alg: none`), which must always be refused. */
export function unsignedToken(payload: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ aud: TOKEN_AUDIENCES.doc, exp: Math.floor(Date.now() / 1000) + 600, ...payload })}.`;
}
