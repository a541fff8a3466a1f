import {
  GATEWAY_ROUTES,
  type AgentReviewRequest,
  type AgentRunDto,
  type AgentRunStreamEvent,
  type StartAgentRunRequest,
} from '@quire/contracts';
import { loadSession } from '../api/auth-store';
import { request } from '../api/gateway-client';
import { SseParser } from './sse-parser';

/** Agent mode through the gateway (contracts/src/api/agent-api.ts). */
export const agentApi = {
  start: (notebookId: string, body: StartAgentRunRequest) =>
    request<AgentRunDto>('POST', GATEWAY_ROUTES.agentRuns(notebookId), body),
  list: (notebookId: string) => request<{ runs: AgentRunDto[] }>('GET', GATEWAY_ROUTES.agentRuns(notebookId)),
  get: (notebookId: string, runId: string) =>
    request<AgentRunDto>('GET', GATEWAY_ROUTES.agentRun(notebookId, runId)),
  stop: (notebookId: string, runId: string) =>
    request<AgentRunDto>('POST', GATEWAY_ROUTES.agentRunAction(notebookId, runId, 'stop')),
  review: (notebookId: string, runId: string, body: AgentReviewRequest) =>
    request<AgentRunDto>('POST', GATEWAY_ROUTES.agentRunAction(notebookId, runId, 'review'), body),
  undo: (notebookId: string, runId: string) =>
    request<AgentRunDto>('POST', GATEWAY_ROUTES.agentRunAction(notebookId, runId, 'undo')),
};

export interface AgentStreamHandlers {
  onEvent: (ev: AgentRunStreamEvent) => void;
  /** Connected (true) or waiting to reconnect (false). */
  onConnection?: (connected: boolean) => void;
}

/**
 * Watches a run's event stream (Server-Sent Events through the gateway,
 * read with fetch so the bearer token can go in a header). Reconnects with
 * backoff, sending Last-Event-ID, until the run finishes or `close()` is
 * called; each reconnect first gets the whole run again as a `run` event, so
 * nothing is missed.
 */
export function watchAgentRun(notebookId: string, runId: string, handlers: AgentStreamHandlers): () => void {
  const abort = new AbortController();
  let finished = false;
  let attempt = 0;
  let lastEventId: string | null = null;

  const loop = async () => {
    while (!finished && !abort.signal.aborted) {
      try {
        const session = loadSession();
        const res = await fetch(GATEWAY_ROUTES.agentRunEvents(notebookId, runId), {
          headers: {
            Accept: 'text/event-stream',
            ...(session ? { Authorization: `Bearer ${session.token}` } : {}),
            ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}),
          },
          signal: abort.signal,
        });
        // 4xx: the run is not there for us (gone, no access): no point retrying.
        if (res.status >= 400 && res.status < 500) return;
        if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
        attempt = 0;
        handlers.onConnection?.(true);
        const parser = new SseParser();
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          for (const msg of parser.push(decoder.decode(value, { stream: true }))) {
            let ev: AgentRunStreamEvent;
            try {
              ev = JSON.parse(msg.data) as AgentRunStreamEvent;
            } catch {
              continue;
            }
            handlers.onEvent(ev);
            if (ev.type === 'finished') finished = true;
          }
          lastEventId = parser.lastEventId ?? lastEventId;
        }
      } catch {
        if (abort.signal.aborted) return;
      }
      if (finished || abort.signal.aborted) return;
      handlers.onConnection?.(false);
      const delay = Math.min(10_000, 500 * 2 ** attempt++) * (0.75 + Math.random() * 0.5);
      await new Promise((r) => setTimeout(r, delay));
    }
  };
  void loop();
  return () => abort.abort();
}
