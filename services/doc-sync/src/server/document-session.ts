import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import type { Connection } from './connection';

/** Transaction origin of updates that come from storage (never re-logged). */
export const LOAD_ORIGIN = Symbol('doc-sync:load');

/**
 * One open notebook document: the Y.Doc, its awareness, its connections, and
 * the sequence numbers that say how far it is durable.
 *
 * seq counts every update applied to the document since it was created (it
 * continues across restarts from what storage holds). `durableSeq` is the
 * highest seq for which this update and every earlier one is durable;
 * `stateVectorAt` remembers the document's state vector right after each
 * not-yet-durable seq, which is what the durability acknowledgement carries.
 */
export class DocumentSession {
  readonly doc = new Y.Doc({ gc: true });
  readonly awareness: awarenessProtocol.Awareness;
  readonly connections = new Set<Connection>();
  org = '';
  seq = 0;
  durableSeq = 0;
  /** An upper bound of the encoded document size (exact right after a recount). */
  approxBytes = 0;
  /** Internal API calls currently using the document (it stays in memory meanwhile). */
  holders = 0;
  private readonly stateVectorAt = new Map<number, Uint8Array>();
  private readonly settled = new Set<number>();

  constructor(readonly notebookId: string) {
    this.awareness = new awarenessProtocol.Awareness(this.doc);
    // The server has no presence of its own.
    this.awareness.setLocalState(null);
  }

  /** Called by the server for each applied update; returns its seq. */
  nextSeq(): number {
    this.seq += 1;
    this.stateVectorAt.set(this.seq, Y.encodeStateVector(this.doc));
    return this.seq;
  }

  /**
   * Marks one seq durable; returns the new durable watermark and its state
   * vector when the watermark moved.
   */
  settle(seq: number): { seq: number; stateVector: Uint8Array } | undefined {
    this.settled.add(seq);
    let moved = false;
    while (this.settled.has(this.durableSeq + 1)) {
      this.settled.delete(this.durableSeq + 1);
      this.durableSeq += 1;
      moved = true;
    }
    if (!moved) return undefined;
    const sv = this.stateVectorAt.get(this.durableSeq)!;
    for (const s of this.stateVectorAt.keys()) if (s <= this.durableSeq) this.stateVectorAt.delete(s);
    return { seq: this.durableSeq, stateVector: sv };
  }

  /** Start counting from what storage holds. */
  resetSeq(seq: number): void {
    this.seq = seq;
    this.durableSeq = seq;
    this.stateVectorAt.clear();
    this.settled.clear();
  }

  get idle(): boolean {
    return this.connections.size === 0 && this.holders === 0;
  }

  destroy(): void {
    this.awareness.destroy();
    this.doc.destroy();
  }
}
