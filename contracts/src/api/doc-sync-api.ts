/**
 * doc-sync's endpoints.
 *
 * Public (browsers, stock y-websocket clients; the gateway as a service):
 *   WS  /notebooks/:notebookId            y-protocols sync + awareness (y-websocket framing).
 *       Auth: a DocTokenClaims token (auth-tokens.ts) as `?token=` or the
 *       `quire.bearer.<token>` subprotocol; Origin checked against the allowlist.
 *       Close codes: 4401 unauthenticated, 4403 forbidden, 1009 too big, 4413 document over 50 MB,
 *       4503 document unavailable (load failed; nothing overwritten).
 *
 * Internal (gateway only; `Authorization: Bearer <doc token with role service>`):
 *   POST   /internal/notebooks/:id                 CreateNotebookDocRequest → 201 (empty notebook, or from .ipynb)
 *   GET    /internal/notebooks/:id/ipynb           → nbformat 4 JSON (outputs included)
 *   PUT    /internal/notebooks/:id/ipynb           nbformat 4 JSON → 204 (replaces content as a new version)
 *   GET    /internal/notebooks/:id/versions        → { versions: NotebookVersion[] }
 *   POST   /internal/notebooks/:id/versions/:versionId/restore → NotebookVersion (the new version)
 *   DELETE /internal/notebooks/:id                 → 204
 */
export interface CreateNotebookDocRequest {
  title: string;
  createdBy: string;
  /** nbformat 4 JSON to import; omitted = one empty code cell. */
  ipynb?: unknown;
}

export interface NotebookVersion {
  versionId: string;
  /** Document sequence number the version captures. */
  seq: number;
  createdAt: string;
  bytes: number;
  cells: number;
  reason: 'periodic' | 'last-client-left' | 'import' | 'restore' | 'shutdown';
}
