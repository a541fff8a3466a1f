import { QuireError } from '@quire/service-kit';
import type { z } from 'zod';

/** Validates a request body; a bad one is a 400 naming every problem. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (!r.success)
    throw new QuireError(
      'validation',
      r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
      'request.invalid',
    );
  return r.data;
}
