import type { IncomingMessage } from 'node:http';
import { WS_TOKEN_SUBPROTOCOL_PREFIX, type NotebookRole } from '@quire/contracts';
import type { NotebookRow } from '../notebooks/notebooks.repository';

/** Who is calling, from a verified user token. */
export interface Principal {
  userId: string;
  orgId: string;
  name: string;
  /** Set for an agent run's connection (agent token): its runs are origin `agent`. */
  agentRunId?: string;
}

/** What AccessGuard attaches to a request. */
export interface AccessContext {
  principal: Principal | null;
  notebook?: NotebookRow;
  role?: NotebookRole;
}

/**
 * The token of a request, from (in order) `Authorization: Bearer …` or
 * `Authorization: token …` (Jupyter clients), the `quire.bearer.<t>`
 * WebSocket subprotocol (browsers cannot set headers there), or `?token=`.
 */
export function tokenOf(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^(?:Bearer|token)\s+(\S+)$/i.exec(auth.trim());
    if (m) return m[1]!;
  }
  const protocols = req.headers['sec-websocket-protocol'];
  if (protocols) {
    for (const p of protocols.split(',').map((s) => s.trim())) {
      if (p.startsWith(WS_TOKEN_SUBPROTOCOL_PREFIX)) return p.slice(WS_TOKEN_SUBPROTOCOL_PREFIX.length);
    }
  }
  const url = new URL(req.url ?? '/', 'http://x');
  return url.searchParams.get('token');
}
