import { NOTEBOOK_DOC, type CellExecutionInfo, type NotebookOutput } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

const C = NOTEBOOK_DOC.cell;

/**
 * The gateway's live copy of one notebook document: a stock y-websocket client
 * of doc-sync, authenticated with a service doc token, so outputs written here
 * reach every editor through doc-sync and are persisted by it.
 */
export class NotebookDoc {
  readonly doc = new Y.Doc();
  private readonly provider: WebsocketProvider;
  private readonly refresh: NodeJS.Timeout;
  private refs = 0;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly notebookId: string,
    wsBase: string,
    token: string,
    private readonly renewToken: () => Promise<string>,
  ) {
    this.provider = new WebsocketProvider(wsBase, `notebooks/${encodeURIComponent(notebookId)}`, this.doc, {
      params: { token },
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
      maxBackoffTime: 2000,
    });
    // Not a person: no cursor or presence for the gateway.
    this.provider.awareness.setLocalState(null);
    // A reconnect later must not present an expired token.
    this.refresh = setInterval(() => {
      void this.renewToken().then(
        (t) => (this.provider.params = { token: t }),
        () => undefined,
      );
    }, 10 * 60_000);
    this.refresh.unref();
  }

  /** Resolves once the document is in sync with doc-sync. */
  whenSynced(timeoutMs = 15_000): Promise<void> {
    if (this.provider.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.provider.off('sync', onSync);
        reject(
          new QuireError(
            'unavailable',
            'the notebook document could not be opened; try again',
            'docs.unavailable',
          ),
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

  /**
   * Resolves once this copy holds a client's edits up to `clock` (a run request's
   * EditsUpTo: the code as the person who pressed Run saw it). Their last
   * keystrokes can still be on their way through doc-sync when the run arrives.
   */
  whenIncludes(clientId: number, clock: number, timeoutMs = 10_000): Promise<void> {
    const has = () => Y.getState(this.doc.store, clientId) >= clock;
    if (has()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onUpdate = () => {
        if (!has()) return;
        clearTimeout(timer);
        this.doc.off('update', onUpdate);
        resolve();
      };
      const timer = setTimeout(() => {
        this.doc.off('update', onUpdate);
        reject(
          new QuireError(
            'unavailable',
            'your latest edits have not reached the server yet, so the cell was not run; run it again in a moment',
            'docs.edits_pending',
          ),
        );
      }, timeoutMs);
      this.doc.on('update', onUpdate);
    });
  }

  /** The notebook's nbformat metadata as the document holds it now (plain object; shared data, read defensively). */
  notebookMetadata(): Record<string, unknown> {
    const m = this.doc.getMap(NOTEBOOK_DOC.meta).get('metadata');
    return m && typeof m === 'object' ? (m as Record<string, unknown>) : {};
  }

  get cells(): Y.Array<Y.Map<unknown>> {
    return this.doc.getArray<Y.Map<unknown>>(NOTEBOOK_DOC.cells);
  }

  cell(cellId: string): Y.Map<unknown> | undefined {
    for (const c of this.cells) if (c.get(C.id) === cellId) return c;
    return undefined;
  }

  /** The cell's code as it is in the document now (clients only send ids). */
  source(cellId: string): { source: string; type: string } | null {
    const c = this.cell(cellId);
    if (!c) return null;
    const src = c.get(C.source);
    return {
      source: src instanceof Y.Text ? src.toString() : typeof src === 'string' ? src : '',
      type: String(c.get(C.type)),
    };
  }

  /** Code cells in document order (Run All). */
  codeCellIds(): string[] {
    return this.cells
      .toArray()
      .filter((c) => c.get(C.type) === 'code')
      .map((c) => String(c.get(C.id)));
  }

  /** Replaces a cell's outputs from index `from` on (the changed tail). */
  writeOutputs(cellId: string, from: number, outputs: NotebookOutput[]): void {
    const c = this.cell(cellId);
    if (!c) return; // deleted while running: its outputs have nowhere to go
    this.doc.transact(() => {
      const arr = this.outputsOf(c);
      const start = Math.min(from, arr.length);
      if (arr.length > start) arr.delete(start, arr.length - start);
      arr.insert(start, outputs.slice(start - from));
    }, 'gateway');
  }

  clearOutputs(cellId: string): void {
    const c = this.cell(cellId);
    if (!c) return;
    this.doc.transact(() => {
      const arr = this.outputsOf(c);
      if (arr.length) arr.delete(0, arr.length);
      c.set(C.executionCount, null);
    }, 'gateway');
  }

  setExecution(cellId: string, info: CellExecutionInfo, executionCount?: number | null): void {
    const c = this.cell(cellId);
    if (!c) return;
    this.doc.transact(() => {
      c.set(C.execution, info);
      if (executionCount !== undefined) c.set(C.executionCount, executionCount);
    }, 'gateway');
  }

  /** update_display_data: every output in the notebook showing this display id (nbformat). */
  updateDisplay(
    displayId: string,
    data: Record<string, unknown>,
    metadata: Record<string, unknown>,
    skipCellId: string,
  ): void {
    this.doc.transact(() => {
      for (const c of this.cells) {
        if (c.get(C.id) === skipCellId) continue;
        const arr = c.get(C.outputs);
        if (!(arr instanceof Y.Array)) continue;
        arr.toArray().forEach((o: NotebookOutput, i: number) => {
          if (o.output_type === 'display_data' && o.transient?.display_id === displayId) {
            arr.delete(i, 1);
            arr.insert(i, [{ ...o, data, metadata }]);
          }
        });
      }
    }, 'gateway');
  }

  private outputsOf(c: Y.Map<unknown>): Y.Array<NotebookOutput> {
    let arr = c.get(C.outputs);
    if (!(arr instanceof Y.Array)) {
      arr = new Y.Array<NotebookOutput>();
      c.set(C.outputs, arr);
    }
    return arr as Y.Array<NotebookOutput>;
  }

  retain(): void {
    this.refs++;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
  }

  /** Drops one user of the document; the connection closes after `idleMs` unused. */
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

/** Opens notebook documents on demand and shares one connection per notebook. */
export class NotebookDocs {
  private readonly open = new Map<string, NotebookDoc>();

  constructor(
    private readonly wsBase: string,
    private readonly tokenFor: (notebookId: string, orgId: string) => Promise<string>,
    private readonly idleMs: number,
  ) {}

  /** A synced document, retained until `release(notebookId)`. */
  async acquire(notebookId: string, orgId: string): Promise<NotebookDoc> {
    // The token first: between an await and the map lookup another caller could open a second connection.
    const token = await this.tokenFor(notebookId, orgId);
    let d = this.open.get(notebookId);
    if (!d) {
      d = new NotebookDoc(notebookId, this.wsBase, token, () => this.tokenFor(notebookId, orgId));
      this.open.set(notebookId, d);
    }
    d.retain();
    try {
      await d.whenSynced();
    } catch (err) {
      this.release(notebookId);
      throw err;
    }
    return d;
  }

  release(notebookId: string): void {
    const d = this.open.get(notebookId);
    d?.release(this.idleMs, () => {
      if (this.open.get(notebookId) === d) this.open.delete(notebookId);
    });
  }

  closeAll(): void {
    for (const d of this.open.values()) d.destroy();
    this.open.clear();
  }
}
