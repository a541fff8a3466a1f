import type { NotebookVersion } from '@quire/contracts';
import * as Y from 'yjs';
import { cellCount } from '../notebook/notebook-ydoc';
import type { DocumentStore } from '../persistence/document-store';
import type { OpsEntry } from '../persistence/ops-log-codec';
import type { ServerLogger } from '../server/doc-sync-server';
import { LOAD_ORIGIN, type DocumentSession } from '../server/document-session';
import type { ChangeContext, Extension, LoadContext, PersistedContext, StoreContext } from '../server/hooks';
import { DocErrors } from '../errors';

interface DocState {
  session: DocumentSession;
  /** Applied updates not yet in the write-ahead log. */
  pending: OpsEntry[];
  waiters: Map<number, () => void>;
  flushing: Promise<void> | undefined;
  /** Everything up to here is in the S3 ops log. */
  opsSeq: number;
  snapshotSeq: number;
  timer: NodeJS.Timeout;
  closed: boolean;
  lastVersion: NotebookVersion | undefined;
  shipping: Promise<void>;
  shipBusy: number;
}

export interface PersistenceOptions {
  opsFlushMs: number;
  logger: ServerLogger;
  /** Largest group commit (rows per INSERT). */
  maxBatch?: number;
}

/** Rows per write-ahead INSERT: PostgreSQL allows 65535 parameters, 2 per row. */
const MAX_BATCH = 5000;

/**
 * Persistence (ARCHITECTURE "Data and durability"):
 *
 *   onChange  every applied update goes into the PostgreSQL write-ahead log in
 *             group commits; the hook resolves when its batch is committed —
 *             that is when the update is "durable" and its author is
 *             acknowledged. A failed commit is retried; nothing is acknowledged
 *             meanwhile.
 *   timer     every opsFlushMs the write-ahead rows move to one S3 ops-log
 *             object (then the rows are deleted).
 *   onStore   write-ahead drained, ops shipped, then a full snapshot
 *             (Y.encodeStateAsUpdate) into PostgreSQL if anything changed.
 *   onLoad    latest snapshot + later ops + write-ahead rows. Any read error
 *             throws, so a load failure is never an empty document that
 *             could later be stored over the real one.
 */
export class Persistence implements Extension {
  readonly name = 'persistence';
  private readonly docs = new Map<string, DocState>();
  /** Set by the server: runs the onPersisted hooks. */
  emit: (ctx: PersistedContext) => void = () => {};

  constructor(
    private readonly store: DocumentStore,
    private readonly opts: PersistenceOptions,
  ) {}

  async onLoad({ notebookId, session }: LoadContext): Promise<void> {
    const nb = await this.store.getNotebook(notebookId);
    if (!nb) throw DocErrors.notFound(notebookId);
    const stored = await this.store.load(notebookId);
    if (stored.updates.length) Y.applyUpdate(session.doc, Y.mergeUpdates(stored.updates), LOAD_ORIGIN);
    session.org = nb.org;
    session.resetSeq(stored.seq);
    session.approxBytes = stored.updates.reduce((n, u) => n + u.byteLength, 0);
    const state: DocState = {
      session,
      pending: [],
      waiters: new Map(),
      flushing: undefined,
      opsSeq: stored.opsSeq,
      snapshotSeq: stored.snapshotSeq,
      closed: false,
      lastVersion: undefined,
      shipping: Promise.resolve(),
      shipBusy: 0,
      // A tick while a shipment is still running is skipped, not queued.
      timer: setInterval(() => {
        if (!state.shipBusy) {
          this.shipOps(state).catch((err: Error) =>
            this.opts.logger.warn('ops-log shipment failed; retrying next tick', {
              notebookId: session.notebookId,
              error: err.message,
            }),
          );
        }
      }, this.opts.opsFlushMs),
    };
    state.timer.unref();
    this.docs.set(notebookId, state);
  }

  onChange({ session, update, seq }: ChangeContext): Promise<void> {
    const state = this.docs.get(session.notebookId);
    if (!state || state.closed) return Promise.reject(new Error('document is not open'));
    state.pending.push({ seq, update });
    const durable = new Promise<void>((resolve) => state.waiters.set(seq, resolve));
    this.kick(state);
    return durable;
  }

  private kick(state: DocState): void {
    if (state.flushing || !state.pending.length) return;
    state.flushing = this.flushWal(state).finally(() => {
      state.flushing = undefined;
      if (state.pending.length && !state.closed) this.kick(state);
    });
  }

  private async flushWal(state: DocState): Promise<void> {
    let backoff = 50;
    while (state.pending.length) {
      const batch = state.pending.splice(0, this.opts.maxBatch ?? MAX_BATCH);
      try {
        await this.store.appendWal(state.session.notebookId, batch);
        backoff = 50;
        for (const e of batch) {
          state.waiters.get(e.seq)?.();
          state.waiters.delete(e.seq);
        }
      } catch (err) {
        state.pending.unshift(...batch);
        this.opts.logger.warn('write-ahead commit failed; retrying, nothing acknowledged meanwhile', {
          notebookId: state.session.notebookId,
          updates: batch.length,
          error: (err as Error).message,
        });
        if (state.closed) return;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 2_000);
      }
    }
  }

  /** Waits until every applied update is in the write-ahead log. */
  private async drain(state: DocState): Promise<void> {
    while (state.pending.length || state.flushing) {
      this.kick(state);
      await state.flushing;
    }
  }

  /** One shipment at a time per document (the timer and onStore both ship). */
  private shipOps(state: DocState): Promise<void> {
    state.shipBusy += 1;
    const next = state.shipping.catch(() => undefined).then(() => this.shipOnce(state));
    // The chain itself never rejects (callers get `next`, which does).
    state.shipping = next.finally(() => (state.shipBusy -= 1)).catch(() => undefined);
    return next;
  }

  private async shipOnce(state: DocState): Promise<void> {
    const id = state.session.notebookId;
    const entries = await this.store.walSince(id, state.opsSeq);
    if (!entries.length) return;
    const { bytes } = await this.store.writeOps(id, entries);
    const to = entries[entries.length - 1]!.seq;
    state.opsSeq = Math.max(state.opsSeq, to);
    this.emit({ notebookId: id, org: state.session.org, kind: 'ops', seq: to, bytes });
  }

  async onStore({ session, reason, force }: StoreContext): Promise<void> {
    const state = this.docs.get(session.notebookId);
    if (!state) return;
    await this.drain(state);
    await this.shipOps(state);
    if (!force && session.seq <= state.snapshotSeq) return;
    // State and seq are read in the same tick: the snapshot holds exactly seq updates.
    const seq = session.seq;
    const bytes = Y.encodeStateAsUpdate(session.doc);
    session.approxBytes = bytes.byteLength;
    state.lastVersion = await this.store.saveSnapshot(session.notebookId, {
      seq,
      reason,
      state: bytes,
      cells: cellCount(session.doc),
    });
    state.snapshotSeq = Math.max(state.snapshotSeq, seq);
    this.emit({
      notebookId: session.notebookId,
      org: session.org,
      kind: 'snapshot',
      seq,
      bytes: bytes.byteLength,
    });
  }

  onUnload({ notebookId }: LoadContext): void {
    const state = this.docs.get(notebookId);
    if (!state) return;
    state.closed = true;
    clearInterval(state.timer);
    this.docs.delete(notebookId);
  }

  /** The version the last snapshot of an open document wrote (the internal API returns it). */
  lastVersion(notebookId: string): NotebookVersion | undefined {
    return this.docs.get(notebookId)?.lastVersion;
  }
}
