import type { NotebookSessionResponse } from '@quire/contracts';
import { IndexeddbPersistence } from 'y-indexeddb';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { api } from '../api/gateway-client';
import { cellsOf, createUndoManager } from './notebook-model';

/**
 * One open notebook: the shared Y.Doc, kept in IndexedDB (edits made offline
 * survive a reload and merge when the connection returns) and synced with
 * doc-sync over y-websocket; awareness carries who is here and their cursors.
 */
export type DocConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'refused';

export interface DocConnectionState {
  status: DocConnectionStatus;
  /** The server's copy has been received at least once (or the local one is usable offline). */
  ready: boolean;
  /** Why the server refused the document (a 44xx close), for people. */
  refusal: string | null;
}

export interface PresenceUser {
  clientId: number;
  id: string;
  name: string;
  color: string;
  /** The cell this user's cursor is in, when known. */
  cellId: string | null;
}

const REFUSALS: Record<number, string> = {
  4401: 'Your session expired. Reconnecting with a fresh one…',
  4403: 'You no longer have access to this notebook.',
  4413: 'This notebook is over the 50 MB limit; it cannot be opened for editing.',
  4503: 'The notebook store is unavailable; nothing was changed. Retrying…',
};

export class NotebookConnection {
  readonly doc = new Y.Doc();
  readonly provider: WebsocketProvider;
  readonly local: IndexeddbPersistence;
  readonly undoManager: Y.UndoManager;
  state: DocConnectionState = { status: 'connecting', ready: false, refusal: null };
  private readonly listeners = new Set<(s: DocConnectionState) => void>();
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private everConnected = false;
  private destroyed = false;

  constructor(
    readonly notebookId: string,
    private session: NotebookSessionResponse,
  ) {
    performance.mark('quire:connect');
    this.local = new IndexeddbPersistence(`quire:notebook:${notebookId}:${session.user.id}`, this.doc);
    const { serverUrl, room } = splitDocUrl(session.docUrl);
    this.provider = new WebsocketProvider(serverUrl, room, this.doc, {
      params: { token: session.docToken },
      maxBackoffTime: 4000,
    });
    this.undoManager = createUndoManager(this.doc);
    this.provider.awareness.setLocalStateField('user', {
      id: session.user.id,
      name: session.user.name,
      color: session.user.color,
      colorLight: `${session.user.color}33`,
    });

    this.provider.on('status', ({ status }) => {
      if (status === 'connected') {
        this.everConnected = true;
        this.set({ status: 'connected', refusal: null });
      } else if (status === 'disconnected' || (status === 'connecting' && this.everConnected)) {
        if (this.state.status !== 'refused') this.set({ status: 'reconnecting' });
      }
    });
    this.provider.on('sync', (synced: boolean) => {
      // Marks for the editor-open benchmark (load-tests/src/editor-open): where the time goes.
      if (synced && !this.state.ready) performance.mark('quire:doc-synced');
      if (synced) this.set({ ready: true });
    });
    this.provider.on('connection-close', (event) => {
      const refusal = event ? REFUSALS[event.code] : undefined;
      if (refusal) this.set({ refusal });
    });
    this.provider.on('closed', ({ code }) => {
      // 44xx: the provider stops. An expired token is renewed; anything else is final.
      if (code === 4401) void this.renewToken(true);
      else
        this.set({
          status: 'refused',
          refusal: REFUSALS[code] ?? `The server closed the notebook (${code}).`,
        });
    });
    void this.local.whenSynced.then(() => {
      // Offline with a local copy: usable now; it merges when the server answers.
      if (cellsOf(this.doc).length > 0 && !this.state.ready) {
        performance.mark('quire:local-copy');
        this.set({ ready: true });
      }
    });
    this.scheduleRefresh();
  }

  get user(): NotebookSessionResponse['user'] {
    return this.session.user;
  }
  get role(): NotebookSessionResponse['role'] {
    return this.session.role;
  }
  get kernelChannelUrl(): string {
    return this.session.kernelChannelUrl;
  }

  subscribe(fn: (s: DocConnectionState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Tells collaborators which cell my cursor is in (avatars show it). */
  setActiveCell(cellId: string | null): void {
    this.provider.awareness.setLocalStateField('cell', cellId);
  }

  presence(): PresenceUser[] {
    const users: PresenceUser[] = [];
    for (const [clientId, st] of this.provider.awareness.getStates()) {
      const u = (st as { user?: { id?: string; name?: string; color?: string }; cell?: string | null }).user;
      if (!u?.id) continue;
      users.push({
        clientId,
        id: u.id,
        name: u.name ?? 'Someone',
        color: u.color ?? '#64748b',
        cellId: (st as { cell?: string | null }).cell ?? null,
      });
    }
    return users;
  }

  destroy(): void {
    this.destroyed = true;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.undoManager.destroy();
    this.provider.destroy();
    void this.local.destroy();
    this.doc.destroy();
  }

  private set(patch: Partial<DocConnectionState>): void {
    this.state = { ...this.state, ...patch };
    for (const fn of this.listeners) fn(this.state);
  }

  /** Doc tokens are short-lived: renew one a minute before it expires (and after a 4401). */
  private scheduleRefresh(): void {
    const ms = Date.parse(this.session.docTokenExpiresAt) - Date.now() - 60_000;
    if (!Number.isFinite(ms)) return;
    this.refreshTimer = setTimeout(() => void this.renewToken(false), Math.max(5_000, ms));
  }

  private async renewToken(reconnect: boolean): Promise<void> {
    if (this.destroyed) return;
    try {
      this.session = await api.session(this.notebookId);
      this.provider.params = { ...this.provider.params, token: this.session.docToken };
      if (reconnect) this.provider.connect();
      this.scheduleRefresh();
    } catch {
      // Offline or the gateway is down: try again shortly; local edits are kept meanwhile.
      this.refreshTimer = setTimeout(() => void this.renewToken(reconnect), 5_000);
    }
  }
}

/** y-websocket appends `/<room>` to its server URL: split doc-sync's notebook URL accordingly. */
export function splitDocUrl(docUrl: string): { serverUrl: string; room: string } {
  const u = new URL(docUrl, location.href);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  const path = u.pathname.replace(/\/+$/, '');
  const cut = path.lastIndexOf('/');
  return { serverUrl: `${u.protocol}//${u.host}${path.slice(0, cut)}`, room: path.slice(cut + 1) };
}
