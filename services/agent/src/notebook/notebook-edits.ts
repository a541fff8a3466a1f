import {
  AGENT_CELL_METADATA_KEY,
  NOTEBOOK_DOC,
  type AgentCellProvenance,
  type CellExecutionInfo,
  type NotebookOutput,
} from '@quire/contracts';
import * as Y from 'yjs';
import { truncateOutputs, truncateText } from '../truncation/output-truncation';

/**
 * The agent's edits of a notebook Y.Doc (contracts' NOTEBOOK_DOC layout),
 * each idempotent so a retried activity changes nothing twice, plus undo of a
 * whole run. No I/O: the doc may be a live y-websocket copy or a test's doc.
 */
const C = NOTEBOOK_DOC.cell;
/** Transaction origin of the agent's writes. */
export const AGENT_ORIGIN = 'agent';

export type CellMap = Y.Map<unknown>;

export function cellsOf(doc: Y.Doc): Y.Array<CellMap> {
  return doc.getArray<CellMap>(NOTEBOOK_DOC.cells);
}

export function findCell(doc: Y.Doc, cellId: string): { cell: CellMap; index: number } | null {
  const cells = cellsOf(doc);
  for (let i = 0; i < cells.length; i++)
    if (cells.get(i).get(C.id) === cellId) return { cell: cells.get(i), index: i };
  return null;
}

export function sourceOf(cell: CellMap): string {
  const s = cell.get(C.source);
  return s instanceof Y.Text ? s.toString() : typeof s === 'string' ? s : '';
}

export function outputsOf(cell: CellMap): NotebookOutput[] {
  const o = cell.get(C.outputs);
  return (o instanceof Y.Array ? o.toArray() : []) as NotebookOutput[];
}

export function executionOf(cell: CellMap): CellExecutionInfo | null {
  return (cell.get(C.execution) as CellExecutionInfo | undefined) ?? null;
}

function metadataMap(cell: CellMap): Y.Map<unknown> {
  let meta = cell.get(C.metadata);
  if (!(meta instanceof Y.Map)) {
    const plain = (meta ?? {}) as Record<string, unknown>;
    meta = new Y.Map<unknown>(Object.entries(plain));
    cell.set(C.metadata, meta);
  }
  return meta as Y.Map<unknown>;
}

export function provenanceOf(cell: CellMap): AgentCellProvenance | null {
  const meta = cell.get(C.metadata);
  const v = meta instanceof Y.Map ? meta.get(AGENT_CELL_METADATA_KEY) : undefined;
  return (v as AgentCellProvenance | undefined) ?? null;
}

/** Inserts a code cell (after `afterCellId`, or at the end); does nothing when the cell is already there. */
export function insertCell(
  doc: Y.Doc,
  cellId: string,
  source: string,
  afterCellId: string | null,
  provenance: AgentCellProvenance,
): void {
  if (findCell(doc, cellId)) return;
  doc.transact(() => {
    const cell = new Y.Map<unknown>();
    cell.set(C.id, cellId);
    cell.set(C.type, 'code');
    cell.set(C.source, new Y.Text(source));
    cell.set(C.metadata, new Y.Map<unknown>([[AGENT_CELL_METADATA_KEY, provenance]]));
    cell.set(C.outputs, new Y.Array<NotebookOutput>());
    cell.set(C.executionCount, null);
    const cells = cellsOf(doc);
    const after = afterCellId ? findCell(doc, afterCellId) : null;
    cells.insert(after ? after.index + 1 : cells.length, [cell]);
  }, AGENT_ORIGIN);
}

/** Sets a cell's source (a minimal edit: common prefix and suffix kept, so collaborators' cursors survive). */
export function editCell(
  doc: Y.Doc,
  cellId: string,
  source: string,
  provenance: AgentCellProvenance,
): boolean {
  const found = findCell(doc, cellId);
  if (!found) return false;
  doc.transact(() => {
    let text = found.cell.get(C.source);
    if (!(text instanceof Y.Text)) {
      text = new Y.Text();
      found.cell.set(C.source, text);
    }
    replaceText(text as Y.Text, source);
    metadataMap(found.cell).set(AGENT_CELL_METADATA_KEY, provenance);
  }, AGENT_ORIGIN);
  return true;
}

export function replaceText(text: Y.Text, next: string): void {
  const prev = text.toString();
  if (prev === next) return;
  let start = 0;
  while (start < prev.length && start < next.length && prev[start] === next[start]) start++;
  let endPrev = prev.length;
  let endNext = next.length;
  while (endPrev > start && endNext > start && prev[endPrev - 1] === next[endNext - 1]) {
    endPrev--;
    endNext--;
  }
  if (endPrev > start) text.delete(start, endPrev - start);
  if (endNext > start) text.insert(start, next.slice(start, endNext));
}

export function deleteCell(doc: Y.Doc, cellId: string): boolean {
  const found = findCell(doc, cellId);
  if (!found) return false;
  doc.transact(() => cellsOf(doc).delete(found.index, 1), AGENT_ORIGIN);
  return true;
}

export function setProvenance(doc: Y.Doc, cellId: string, provenance: AgentCellProvenance): boolean {
  const found = findCell(doc, cellId);
  if (!found) return false;
  const current = provenanceOf(found.cell);
  if (current && JSON.stringify(current) === JSON.stringify(provenance)) return true;
  doc.transact(() => metadataMap(found.cell).set(AGENT_CELL_METADATA_KEY, provenance), AGENT_ORIGIN);
  return true;
}

/** A cell's metadata field the agent uses to make a retried run find its own execution. */
export const RUN_MARK_KEY = 'quire.agent.run';
export interface RunMark {
  runKey: string;
  /** When the run was submitted (ISO): an execution queued at or after it is this run's. */
  at: string;
  /** The gateway's execution id, once it acknowledged the run. */
  executionId?: string;
}

export function markRun(doc: Y.Doc, cellId: string, mark: RunMark): void {
  const found = findCell(doc, cellId);
  if (!found) return;
  doc.transact(() => metadataMap(found.cell).set(RUN_MARK_KEY, mark), AGENT_ORIGIN);
}

export function runMarkOf(cell: CellMap): RunMark | null {
  const meta = cell.get(C.metadata);
  return ((meta instanceof Y.Map ? meta.get(RUN_MARK_KEY) : undefined) as RunMark | undefined) ?? null;
}

/** The notebook as the model reads it: cells in order with ids, sources and shortened outputs. */
export function renderNotebook(doc: Y.Doc, maxChars = 12_000): string {
  const parts: string[] = [];
  for (const cell of cellsOf(doc).toArray()) {
    const id = String(cell.get(C.id));
    const type = String(cell.get(C.type) ?? 'code');
    const prov = provenanceOf(cell);
    const tag = prov ? ` (written by the agent${prov.state === 'pending' ? ', pending review' : ''})` : '';
    const lines = [`## cell ${id} [${type}]${tag}`, sourceOf(cell)];
    if (type === 'code') {
      const outputs = outputsOf(cell);
      if (outputs.length)
        lines.push(
          '### output',
          truncateOutputs(outputs, {
            perOutputChars: 600,
            perCellChars: 1000,
            perStepChars: 1000,
            headShare: 0.6,
          }),
        );
    }
    parts.push(lines.join('\n'));
  }
  if (!parts.length) return '(the notebook is empty)';
  return truncateText(parts.join('\n\n'), maxChars);
}

/** A deep copy of a Yjs value, detached, for inserting into another document. */
function cloneValue(v: unknown): unknown {
  if (v instanceof Y.Text) return new Y.Text(v.toString());
  if (v instanceof Y.Map) {
    const m = new Y.Map<unknown>();
    v.forEach((value, key) => m.set(key, cloneValue(value)));
    return m;
  }
  if (v instanceof Y.Array) return Y.Array.from(v.toArray().map(cloneValue) as never[]);
  return v;
}

/** Makes `target`'s map hold exactly `source`'s entries (values copied), keeping the map itself. */
function restoreMap(target: Y.Map<unknown>, source: Y.Map<unknown>): void {
  for (const key of [...target.keys()]) if (!source.has(key)) target.delete(key);
  source.forEach((value, key) => {
    const current = target.get(key);
    if (value instanceof Y.Text && current instanceof Y.Text) replaceText(current, value.toString());
    else if (value instanceof Y.Map && current instanceof Y.Map) restoreMap(current, value);
    else if (value instanceof Y.Array && current instanceof Y.Array) {
      if (JSON.stringify(current.toJSON()) !== JSON.stringify(value.toJSON())) {
        current.delete(0, current.length);
        current.insert(0, value.toArray().map(cloneValue));
      }
    } else if (JSON.stringify(valueJson(current)) !== JSON.stringify(valueJson(value)))
      target.set(key, cloneValue(value));
  });
}

const valueJson = (v: unknown): unknown =>
  v instanceof Y.AbstractType ? (v as Y.AbstractType<unknown>).toJSON() : v;

/**
 * Undoes a run: every cell the run touched goes back to how it was before the
 * run (`preRun`, the encoded document state recorded at its start) — cells it
 * inserted are removed, cells it deleted come back in their place, cells it
 * edited or ran get their source, metadata and outputs back. Cells it never
 * touched, and people's edits to them, are left alone.
 */
export function undoRun(doc: Y.Doc, preRun: Uint8Array, touched: Iterable<string>): { restored: number } {
  const before = new Y.Doc();
  Y.applyUpdate(before, preRun);
  const beforeCells = cellsOf(before).toArray();
  const beforeIndex = new Map(beforeCells.map((c, i) => [String(c.get(C.id)), i]));
  const ids = new Set(touched);
  let restored = 0;
  doc.transact(() => {
    for (const id of ids) {
      const now = findCell(doc, id);
      const i = beforeIndex.get(id);
      if (i === undefined) {
        if (now) {
          cellsOf(doc).delete(now.index, 1);
          restored++;
        }
        continue;
      }
      const original = beforeCells[i]!;
      if (now) {
        restoreMap(now.cell, original);
        restored++;
        continue;
      }
      // Deleted by the run: back after the nearest earlier cell that still exists.
      let at = 0;
      for (let j = i - 1; j >= 0; j--) {
        const prev = findCell(doc, String(beforeCells[j]!.get(C.id)));
        if (prev) {
          at = prev.index + 1;
          break;
        }
      }
      cellsOf(doc).insert(at, [cloneValue(original) as CellMap]);
      restored++;
    }
  }, AGENT_ORIGIN);
  before.destroy();
  return { restored };
}
