/**
 * doc-sync's endpoints.
 *
 * Public (browsers, stock y-websocket clients; the gateway as a service):
 *   WS  /notebooks/:notebookId            y-protocols sync + awareness (y-websocket framing).
 *       Auth: a DocTokenClaims token (auth-tokens.ts) as `?token=` or the
 *       `quire.bearer.<token>` subprotocol; Origin checked against the allowlist.
 *       Close codes: 4401 unauthenticated, 4403 forbidden (token, org or Origin), 4404 no such notebook
 *       (or deleted while open), 1009 frame over 10 MB, 4413 document over 50 MB,
 *       4503 document unavailable (load failed; nothing overwritten), 1012 doc-sync restarting (reconnect).
 *       viewer/runner: their document updates are not applied; they get y-protocols' permission-denied
 *       (messageAuth 2) with a reason. Awareness (presence) works for every role.
 *       Durability acknowledgement (opt-in, `?ack=1`): message type DOC_SYNC_DURABLE_MESSAGE =
 *       varUint(seq) + varUint8Array(Y state vector); an edit with clock k by client c is durable once
 *       stateVector[c] > k. Clients that did not ask never receive it (stock clients stay quiet).
 *
 * Internal (gateway only; `Authorization: Bearer <doc token with role service>`, its `nb` = :id,
 * its `org` = the notebook's org; 401/403 otherwise, 503 while storage is unreachable):
 *   (bodies: application/json or application/x-ipynb+json, up to the 50 MB document limit)
 *   POST   /internal/notebooks/:id                 CreateNotebookDocRequest → 201 CreateNotebookDocResponse
 *                                                  (empty notebook, or from .ipynb; 409 if it exists)
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

export interface CreateNotebookDocResponse {
  notebookId: string;
  /** The first version (reason 'import'). */
  version: NotebookVersion;
}

/** WebSocket message type of the opt-in durability acknowledgement (see above). */
export const DOC_SYNC_DURABLE_MESSAGE = 100;

export interface NotebookVersion {
  versionId: string;
  /** Document sequence number the version captures. */
  seq: number;
  createdAt: string;
  bytes: number;
  cells: number;
  reason: 'periodic' | 'last-client-left' | 'import' | 'restore' | 'shutdown';
}
