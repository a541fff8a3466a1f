import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { QuireError } from '../errors';

/**
 * Service-to-service calls present QUIRE_INTERNAL_TOKEN as a bearer token.
 * Compared in constant time; a missing or wrong one is 401 `auth.internal_token`.
 */
export function assertInternalToken(authorization: string | undefined, token: string): void {
  const got = Buffer.from(String(authorization ?? ''));
  const expected = Buffer.from(`Bearer ${token}`);
  if (got.length !== expected.length || !timingSafeEqual(got, expected))
    throw new QuireError(
      'unauthorized',
      'the internal service token is missing or wrong',
      'auth.internal_token',
    );
}

/** Parses input with a zod schema; a failure is 400 with every problem named and the caller's code. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  code = 'validation.failed',
): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success)
    throw new QuireError(
      'validation',
      r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
      code,
    );
  return r.data;
}
