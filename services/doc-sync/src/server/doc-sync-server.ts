import { id as idSchema, WS_TOKEN_SUBPROTOCOL_PREFIX } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import * as decoding from 'lib0/decoding';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { closeCodeFor, closeReason, DocErrors } from '../errors';
import {
  encodeAwareness,
  encodeAwarenessRaw,
  encodeDurable,
  encodePermissionDenied,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
  MESSAGE,
  SYNC,
} from '../protocol/messages';
import { Connection } from './connection';
import { DocumentSession, LOAD_ORIGIN } from './document-session';
import type { ConnectContext, Extension, Identity, PersistedContext, StoreReason } from './hooks';

export interface ServerLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface DocSyncServerOptions {
  extensions: Extension[];
  /** Frames over this close the connection with 1009 (ws maxPayload). */
  maxFrameBytes: number;
  /** Open, changed documents are stored (snapshot) this often. */
  snapshotIntervalMs: number;
  logger: ServerLogger;
  /** Ping interval; a client that misses a pong is dropped. */
  keepAliveMs?: number;
}

const PATH = /^\/notebooks\/([^/?#]+)\/?$/;

/** Stock y-websocket clients send `messageSync` with an empty update when they have nothing new. */
function isEmptyUpdate(update: Uint8Array): boolean {
  const { structs, ds } = Y.decodeUpdate(update);
  return structs.length === 0 && ds.clients.size === 0;
}

/**
 * The y-websocket protocol server with a hook pipeline (hooks.ts). It attaches
 * to an existing HTTP server's `upgrade` event (Nest's), so the document
 * WebSocket and the HTTP API share one port.
 */
export class DocSyncServer {
  readonly wss: WebSocketServer;
  private readonly sessions = new Map<string, Promise<DocumentSession>>();
  private readonly unloading = new Map<string, Promise<void>>();
  private readonly storeChains = new Map<string, Promise<void>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private closing = false;
  private shuttingDown: Promise<void> | undefined;

  constructor(private readonly opts: DocSyncServerOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxFrameBytes,
      // A browser offering protocols must get one back: prefer a non-token one.
      handleProtocols: (protocols) => {
        const list = [...protocols];
        return list.find((p) => !p.startsWith(WS_TOKEN_SUBPROTOCOL_PREFIX)) ?? list[0] ?? false;
      },
    });
    this.timers.push(
      setInterval(() => void this.storeAll('periodic'), opts.snapshotIntervalMs).unref(),
      setInterval(() => this.keepAlive(), opts.keepAliveMs ?? 30_000).unref(),
    );
  }

  get extensions(): Extension[] {
    return this.opts.extensions;
  }

  /** Takes over `upgrade` requests for /notebooks/:id on this HTTP server. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://doc-sync.invalid');
      const m = PATH.exec(url.pathname);
      if (!m || this.closing) {
        socket.end(
          `HTTP/1.1 ${this.closing ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\n\r\n`,
        );
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req, m[1]!, url));
    });
  }

  private onConnection(ws: WebSocket, req: IncomingMessage, rawId: string, url: URL): void {
    let notebookId: string;
    try {
      notebookId = decodeURIComponent(rawId);
    } catch {
      notebookId = '';
    }
    const conn = new Connection(ws, notebookId, url.searchParams.get('ack') === '1');
    (ws as WebSocket & { isAlive?: boolean }).isAlive = true;
    ws.on('pong', () => ((ws as WebSocket & { isAlive?: boolean }).isAlive = true));
    ws.on('message', (data: RawData) => {
      const frame = toBytes(data);
      if (!conn.ready) conn.queued.push(frame);
      else void this.onFrame(conn, frame);
    });
    ws.on('error', (err) => this.opts.logger.warn('websocket error', { notebookId, error: err.message }));
    let session: DocumentSession | undefined;
    ws.on('close', () => {
      conn.closed = true;
      if (session) void this.leave(session, conn);
    });

    void (async () => {
      try {
        if (!idSchema.safeParse(notebookId).success) throw DocErrors.notFound(rawId.slice(0, 64));
        const ctx: ConnectContext = {
          notebookId,
          request: req,
          origin: req.headers.origin,
          token: url.searchParams.get('token') ?? tokenFromProtocols(req.headers['sec-websocket-protocol']),
        };
        for (const ext of this.opts.extensions) await ext.onConnect?.(ctx);
        let identity: Identity | undefined;
        for (const ext of this.opts.extensions) {
          identity = (await ext.onAuthenticate?.(ctx)) ?? identity;
          if (identity) break;
        }
        if (!identity)
          throw DocErrors.unauthenticated(
            'a doc token is required (?token= or the quire.bearer.<token> subprotocol)',
          );
        conn.identity = identity;
        if (conn.closed) return;
        const s = await this.acquire(notebookId);
        if (identity.org !== s.org) {
          this.releaseIfIdle(s);
          throw DocErrors.forbidden('this token is for another organisation');
        }
        if (conn.closed) {
          this.releaseIfIdle(s);
          return;
        }
        session = s;
        s.connections.add(conn);
        for (const ext of this.opts.extensions) ext.onJoin?.({ session: s, connection: conn });
        conn.send(encodeSyncStep1(s.doc));
        const states = [...s.awareness.getStates().keys()];
        if (states.length) conn.send(encodeAwareness(s.awareness, states));
        // Frames that came during auth/load first, in order; later ones go straight through.
        while (conn.queued.length && !conn.closed) await this.onFrame(conn, conn.queued.shift()!);
        conn.ready = true;
      } catch (err) {
        if (!(err instanceof QuireError) || err.status >= 500) {
          this.opts.logger.warn('connection refused', { notebookId, error: (err as Error).message });
        }
        conn.close(closeCodeFor(err), closeReason(err));
      }
    })();
  }

  private async onFrame(conn: Connection, frame: Uint8Array): Promise<void> {
    const session = await this.sessions.get(conn.notebookId);
    if (!session || conn.closed) return;
    try {
      const d = decoding.createDecoder(frame);
      const type = decoding.readVarUint(d);
      switch (type) {
        case MESSAGE.sync: {
          const sub = decoding.readVarUint(d);
          if (sub === SYNC.step1) {
            conn.send(encodeSyncStep2(session.doc, decoding.readVarUint8Array(d)));
          } else if (sub === SYNC.step2 || sub === SYNC.update) {
            this.applyClientUpdate(session, conn, decoding.readVarUint8Array(d));
          } else {
            throw new QuireError('validation', `unknown sync message ${sub}`);
          }
          break;
        }
        case MESSAGE.awareness:
          awarenessProtocol.applyAwarenessUpdate(session.awareness, decoding.readVarUint8Array(d), conn);
          break;
        case MESSAGE.queryAwareness:
          conn.send(encodeAwareness(session.awareness, [...session.awareness.getStates().keys()]));
          break;
        case MESSAGE.auth:
          break; // clients have nothing to say on this channel
        default:
          throw new QuireError('validation', `unknown message type ${type}`);
      }
    } catch (err) {
      const e =
        err instanceof QuireError
          ? err
          : new QuireError('validation', 'malformed message', 'doc.bad_message', err);
      conn.close(closeCodeFor(e), closeReason(e));
    }
  }

  private applyClientUpdate(session: DocumentSession, conn: Connection, update: Uint8Array): void {
    if (conn.readOnly) {
      if (!isEmptyUpdate(update)) {
        conn.send(
          encodePermissionDenied(
            `read-only: a ${conn.identity?.role ?? 'viewer'} cannot edit this notebook; the change was not applied`,
          ),
        );
      }
      return;
    }
    for (const ext of this.opts.extensions) ext.beforeChange?.({ session, update, connection: conn });
    Y.applyUpdate(session.doc, update, conn);
  }

  /** Applies a change made by the service itself (internal API), with the same limits. */
  transact(session: DocumentSession, change: (doc: Y.Doc) => void, origin: string): void {
    const probe = new Y.Doc();
    Y.applyUpdate(probe, Y.encodeStateAsUpdate(session.doc));
    const before = Y.encodeStateVector(probe);
    change(probe);
    const update = Y.encodeStateAsUpdate(probe, before);
    probe.destroy();
    for (const ext of this.opts.extensions) ext.beforeChange?.({ session, update, connection: undefined });
    Y.applyUpdate(session.doc, update, origin);
  }

  /** Opens (or joins) the in-memory document, loading it from storage once. */
  async acquire(notebookId: string): Promise<DocumentSession> {
    for (;;) {
      const pending = this.unloading.get(notebookId);
      if (pending) await pending;
      else break;
    }
    if (this.closing) throw DocErrors.unavailable('doc-sync is shutting down; reconnect in a moment');
    let p = this.sessions.get(notebookId);
    if (!p) {
      p = this.load(notebookId);
      this.sessions.set(notebookId, p);
      p.catch(() => this.sessions.delete(notebookId));
    }
    return p;
  }

  private async load(notebookId: string): Promise<DocumentSession> {
    const session = new DocumentSession(notebookId);
    try {
      for (const ext of this.opts.extensions) await ext.onLoad?.({ notebookId, session });
    } catch (err) {
      session.destroy();
      if (err instanceof QuireError && err.code !== 'internal') throw err;
      this.opts.logger.error('document load failed; refusing connections, storage untouched', {
        notebookId,
        error: (err as Error).message,
      });
      throw DocErrors.unavailable(
        'the document could not be loaded from storage; nothing was changed, try again shortly',
        err,
      );
    }
    session.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === LOAD_ORIGIN) return;
      const seq = session.nextSeq();
      session.approxBytes += update.byteLength;
      const frame = encodeUpdate(update);
      for (const c of session.connections) if (c !== origin) c.send(frame);
      const pending = this.opts.extensions.map((e) => e.onChange?.({ session, update, seq, origin }));
      Promise.all(pending).then(
        () => this.onDurable(session, seq),
        (err) =>
          this.opts.logger.warn('update not persisted', { notebookId, seq, error: (err as Error).message }),
      );
    });
    session.awareness.on(
      'update',
      (
        { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
        origin: unknown,
      ) => {
        if (origin instanceof Connection) {
          for (const id of added) origin.awarenessClients.add(id);
          for (const id of removed) origin.awarenessClients.delete(id);
        }
        const changed = [...added, ...updated, ...removed];
        if (!changed.length) return;
        const frame = encodeAwarenessRaw(awarenessProtocol.encodeAwarenessUpdate(session.awareness, changed));
        for (const c of session.connections) c.send(frame);
      },
    );
    return session;
  }

  /** Runs every onPersisted hook (events); failures are logged, never thrown. */
  notifyPersisted(ctx: PersistedContext): void {
    for (const ext of this.opts.extensions) {
      void Promise.resolve()
        .then(() => ext.onPersisted?.(ctx))
        .catch((err) =>
          this.opts.logger.warn('onPersisted failed', { extension: ext.name, error: (err as Error).message }),
        );
    }
  }

  private onDurable(session: DocumentSession, seq: number): void {
    const moved = session.settle(seq);
    if (!moved) return;
    const frame = encodeDurable(moved.seq, moved.stateVector);
    for (const c of session.connections) if (c.wantsAck) c.send(frame);
  }

  private async leave(session: DocumentSession, conn: Connection): Promise<void> {
    if (!session.connections.delete(conn)) return;
    if (conn.awarenessClients.size) {
      awarenessProtocol.removeAwarenessStates(session.awareness, [...conn.awarenessClients], null);
    }
    for (const ext of this.opts.extensions) {
      try {
        await ext.onDisconnect?.({ session, connection: conn });
      } catch (err) {
        this.opts.logger.warn('onDisconnect failed', { extension: ext.name, error: (err as Error).message });
      }
    }
    this.releaseIfIdle(session);
  }

  /** Internal API access: the document stays open while `fn` runs. */
  async withDocument<T>(notebookId: string, fn: (s: DocumentSession) => Promise<T>): Promise<T> {
    const session = await this.acquire(notebookId);
    session.holders += 1;
    try {
      return await fn(session);
    } finally {
      session.holders -= 1;
      this.releaseIfIdle(session);
    }
  }

  private releaseIfIdle(session: DocumentSession): void {
    if (!session.idle || this.closing || this.unloading.has(session.notebookId)) return;
    const p = (async () => {
      try {
        await this.store(session, 'last-client-left');
      } catch (err) {
        // Keep the document in memory (its changes are not all stored) and try again later.
        this.opts.logger.error('store on last client leaving failed; keeping the document open', {
          notebookId: session.notebookId,
          error: (err as Error).message,
        });
        setTimeout(() => this.releaseIfIdle(session), 5_000).unref();
        return;
      }
      if (!session.idle) return; // someone joined while we stored: keep it open
      this.sessions.delete(session.notebookId);
      await this.unload(session);
    })().finally(() => this.unloading.delete(session.notebookId));
    this.unloading.set(session.notebookId, p);
  }

  private async unload(session: DocumentSession): Promise<void> {
    for (const ext of this.opts.extensions) {
      try {
        await ext.onUnload?.({ notebookId: session.notebookId, session });
      } catch (err) {
        this.opts.logger.warn('onUnload failed', { extension: ext.name, error: (err as Error).message });
      }
    }
    session.destroy();
  }

  /** Runs onStore hooks, one store at a time per document. */
  store(session: DocumentSession, reason: StoreReason, force = false): Promise<void> {
    const prev = this.storeChains.get(session.notebookId) ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        for (const ext of this.opts.extensions) await ext.onStore?.({ session, reason, force });
      });
    this.storeChains.set(session.notebookId, next);
    void next
      .finally(() => {
        if (this.storeChains.get(session.notebookId) === next) this.storeChains.delete(session.notebookId);
      })
      .catch(() => undefined);
    return next;
  }

  private async storeAll(reason: StoreReason): Promise<void> {
    for (const p of [...this.sessions.values()]) {
      const s = await p.catch(() => undefined);
      if (!s) continue;
      await this.store(s, reason).catch((err) =>
        this.opts.logger.warn('periodic store failed', {
          notebookId: s.notebookId,
          error: (err as Error).message,
        }),
      );
    }
  }

  /** Open documents (for metrics and tests). */
  async openDocuments(): Promise<DocumentSession[]> {
    const out: DocumentSession[] = [];
    for (const p of this.sessions.values()) {
      const s = await p.catch(() => undefined);
      if (s) out.push(s);
    }
    return out;
  }

  /** Disconnects every client of a notebook (deleted) without storing it again. */
  async evict(notebookId: string, code: number, reason: string): Promise<void> {
    const p = this.sessions.get(notebookId);
    if (!p) return;
    const s = await p.catch(() => undefined);
    this.sessions.delete(notebookId);
    if (!s) return;
    for (const c of [...s.connections]) c.close(code, reason);
    s.connections.clear();
    await this.unload(s);
  }

  private keepAlive(): void {
    for (const ws of this.wss.clients) {
      const w = ws as WebSocket & { isAlive?: boolean };
      if (w.isAlive === false) {
        w.terminate();
        continue;
      }
      w.isAlive = false;
      w.ping();
    }
  }

  /** Stores every open document, then closes its clients with 1012 so they reconnect elsewhere. */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return this.shuttingDown;
    this.shuttingDown = this.doShutdown();
    return this.shuttingDown;
  }

  private async doShutdown(): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.unloading.values()]);
    for (const s of await this.openDocuments()) {
      await this.store(s, 'shutdown').catch((err) =>
        this.opts.logger.error('store at shutdown failed', {
          notebookId: s.notebookId,
          error: (err as Error).message,
        }),
      );
      for (const c of [...s.connections]) c.close(1012, 'doc-sync is restarting; reconnect');
      await this.unload(s);
    }
    this.sessions.clear();
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    for (const ext of this.opts.extensions) await ext.onDestroy?.();
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tokenFromProtocols(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const p = header
    .split(',')
    .map((s) => s.trim())
    .find((s) => s.startsWith(WS_TOKEN_SUBPROTOCOL_PREFIX));
  return p?.slice(WS_TOKEN_SUBPROTOCOL_PREFIX.length) || undefined;
}
