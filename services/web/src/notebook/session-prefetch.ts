import type { NotebookSessionResponse } from '@quire/contracts';
import { api } from '../api/gateway-client';

/**
 * The notebook session, taken from the request index.html started before the
 * bundle ran (saves one round trip when opening a notebook URL), else asked now.
 * The prefetched answer is used once, only for the notebook it was asked for,
 * and only when it succeeded: any failure goes through api.session for the
 * usual error handling.
 */
interface Prefetch {
  notebookId: string;
  response: Promise<NotebookSessionResponse | null>;
}

export async function notebookSession(notebookId: string): Promise<NotebookSessionResponse> {
  const w = window as unknown as { __quireSessionPrefetch?: Prefetch };
  const prefetch = w.__quireSessionPrefetch;
  delete w.__quireSessionPrefetch;
  if (prefetch && prefetch.notebookId === encodeURIComponent(notebookId)) {
    const session = await prefetch.response;
    if (session) return session;
  }
  return api.session(notebookId);
}
