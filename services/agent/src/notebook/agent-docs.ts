import { QuireError } from '@quire/service-kit';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

/**
 * The agent's live copies of notebook documents: stock y-websocket clients of
 * doc-sync with a `service` doc token (sub `service:agent`), one connection
 * per notebook shared by the activities of every run on it, closed when
 * unused for a while. Edits made here reach every collaborator live.
 */
export class LiveDoc {
  readonly doc = new Y.Doc();
  private readonly provider: WebsocketProvider;
  private refs = 0;
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly refresh: NodeJS.Timeout;

  constructor(
    readonly notebookId: string,
    wsBase: string,
    token: string,
    renewToken: () => Promise<string>,
  ) {
    this.provider = new WebsocketProvider(wsBase, `notebooks/${encodeURIComponent(notebookId)}`, this.doc, {
      params: { token },
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
      maxBackoffTime: 2000,
    });
    // Not a person: no cursor or presence.
    this.provider.awareness.setLocalState(null);
    this.refresh = setInterval(() => {
      void renewToken().then(
        (t) => (this.provider.params = { token: t }),
        () => undefined,
      );
    }, 5 * 60_000);
    this.refresh.unref();
  }

  whenSynced(timeoutMs = 15_000): Promise<void> {
    if (this.provider.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.provider.off('sync', onSync);
        reject(
          new QuireError('unavailable', 'the notebook document could not be opened', 'docs.unavailable'),
        );
      }, timeoutMs);
      const onSync = (synced: boolean) => {
        if (!synced) return;
        clearTimeout(timer);
        this.provider.off('sync', onSync);
        resolve();
      };
      this.provider.on('sync', onSync);
    });
  }

  /** Resolves once local edits have left for doc-sync (the socket's send buffer is empty). */
  async flushed(timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ws = this.provider.ws as unknown as { bufferedAmount?: number; readyState?: number } | null;
      if (this.provider.wsconnected && ws && (ws.bufferedAmount ?? 0) === 0) return;
      if (Date.now() > end)
        throw new QuireError(
          'unavailable',
          'the notebook edits could not be sent to doc-sync',
          'docs.unavailable',
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Resolves when `probe` holds for the document (checked on every update), or rejects after `timeoutMs`. */
  waitFor(probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (probe()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onUpdate = () => {
        if (!probe()) return;
        clearTimeout(timer);
        this.doc.off('update', onUpdate);
        resolve();
      };
      const timer = setTimeout(() => {
        this.doc.off('update', onUpdate);
        reject(new QuireError('unavailable', `timed out waiting for ${what}`, 'docs.timeout'));
      }, timeoutMs);
      this.doc.on('update', onUpdate);
    });
  }

  retain(): void {
    this.refs++;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
  }

  release(idleMs: number, onClose: () => void): void {
    this.refs = Math.max(0, this.refs - 1);
    if (this.refs > 0) return;
    this.closeTimer = setTimeout(() => {
      if (this.refs === 0) {
        this.destroy();
        onClose();
      }
    }, idleMs);
    this.closeTimer.unref();
  }

  destroy(): void {
    clearInterval(this.refresh);
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.provider.destroy();
    this.doc.destroy();
  }
}

export class AgentDocs {
  private readonly open = new Map<string, LiveDoc>();

  constructor(
    private readonly wsBase: string,
    private readonly tokenFor: (notebookId: string, orgId: string) => Promise<string>,
    private readonly idleMs = 30_000,
  ) {}

  /** Runs `fn` on the synced document, then waits until its edits have been sent. */
  async use<T>(notebookId: string, orgId: string, fn: (doc: LiveDoc) => T | Promise<T>): Promise<T> {
    const token = await this.tokenFor(notebookId, orgId);
    let d = this.open.get(notebookId);
    if (!d) {
      d = new LiveDoc(notebookId, this.wsBase, token, () => this.tokenFor(notebookId, orgId));
      this.open.set(notebookId, d);
    }
    const live = d;
    live.retain();
    try {
      await live.whenSynced();
      const result = await fn(live);
      await live.flushed();
      return result;
    } finally {
      live.release(this.idleMs, () => {
        if (this.open.get(notebookId) === live) this.open.delete(notebookId);
      });
    }
  }

  closeAll(): void {
    for (const d of this.open.values()) d.destroy();
    this.open.clear();
  }
}
