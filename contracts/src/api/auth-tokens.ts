/**
 * Signed tokens (JWT, HS256 only — the algorithm is pinned, `alg: none` and
 * every other algorithm are refused) minted by the gateway with
 * QUIRE_TOKEN_SIGNING_KEY and verified by the gateway and doc-sync. `exp` and
 * `aud` are always checked. The HMAC key is the UTF-8 bytes of that variable
 * (`new TextEncoder().encode(key)`), on both sides.
 */
export const TOKEN_ALGORITHM = 'HS256' as const;

export const TOKEN_AUDIENCES = {
  /** A signed-in user's session token: every gateway route. */
  user: 'quire:user',
  /** Short-lived, one notebook: opens its document on doc-sync with a role. */
  doc: 'quire:doc',
  /**
   * Minted by the agent service for one agent run: opens that notebook's
   * kernel channel on the gateway as "Agent (for <name>)" with origin
   * `agent` (the agent tier's per-cell cap). Never accepted on other routes.
   */
  agent: 'quire:agent',
} as const;

export type NotebookRole = 'owner' | 'editor' | 'runner' | 'viewer';

export interface UserTokenClaims {
  sub: string; // userId
  org: string; // tenant (org id)
  name: string;
  aud: typeof TOKEN_AUDIENCES.user;
  exp: number;
  iat: number;
}

export interface DocTokenClaims {
  /** userId, or `service:<name>` for a service (the gateway writing outputs). */
  sub: string;
  org: string;
  name: string;
  /** The one notebook this token opens. */
  nb: string;
  /** viewer and runner connections are read-only on the document; `service` may write. */
  role: NotebookRole | 'service';
  aud: typeof TOKEN_AUDIENCES.doc;
  exp: number;
  iat: number;
}

export interface AgentTokenClaims {
  /** The user on whose behalf the agent runs (their RBAC role on the notebook applies). */
  sub: string;
  org: string;
  /** The user's display name; collaborators see agentDisplayName(name). */
  name: string;
  /** The one notebook this token reaches. */
  nb: string;
  /** The agent run. */
  run: string;
  aud: typeof TOKEN_AUDIENCES.agent;
  exp: number;
  iat: number;
}

/** How a browser passes a token on a WebSocket handshake (no custom headers there). */
export const WS_TOKEN_SUBPROTOCOL_PREFIX = 'quire.bearer.';
