import { QuireError } from '@quire/service-kit';

/**
 * doc-sync's errors, on top of service-kit's taxonomy. Two close codes differ
 * from the generic mapping because the contract (doc-sync-api.ts) promises
 * them: 4413 for a document over 50 MB (1009 stays for an oversized frame)
 * and 4503 for a document that could not be loaded.
 */
export const DocErrors = {
  unauthenticated: (why: string) => new QuireError('unauthorized', why, 'doc.unauthenticated'),
  forbidden: (why: string) => new QuireError('forbidden', why, 'doc.forbidden'),
  notFound: (notebookId: string) =>
    new QuireError('not_found', `notebook ${notebookId} does not exist`, 'notebook.not_found'),
  tooLarge: (bytes: number, limit: number) =>
    new QuireError(
      'too_large',
      `document would be ${(bytes / 1048576).toFixed(1)} MB, over the ${(limit / 1048576).toFixed(0)} MB limit; the change was not applied`,
      'notebook.too_large',
    ),
  unavailable: (why: string, cause?: unknown) =>
    new QuireError('unavailable', why, 'notebook.unavailable', cause),
};

const CLOSE_BY_CODE: Record<string, number> = {
  'notebook.too_large': 4413,
  'notebook.unavailable': 4503,
};

export function closeCodeFor(err: unknown): number {
  if (err instanceof QuireError) return CLOSE_BY_CODE[err.code] ?? err.wsCloseCode;
  return 1011;
}

/** A close reason is at most 123 bytes of UTF-8. */
export function closeReason(err: unknown): string {
  const msg = err instanceof QuireError ? err.message : 'internal error';
  let out = msg;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -2);
  return out === msg ? out : `${out.slice(0, -1)}…`;
}
