import * as Y from 'yjs';
import { NOTEBOOK_DOC, type CellExecutionInfo, type EditsUpTo } from '@quire/contracts';

/**
 * Cell operations on the shared notebook Y.Doc (contracts' NOTEBOOK_DOC layout,
 * JupyterLab's @jupyter/ydoc shape). Every structural change runs in one
 * transaction with a local origin, so the notebook's undo manager (which
 * tracks only local origins) can undo it and never undoes a collaborator's edit.
 */
export type CellType = 'code' | 'markdown' | 'raw';
export type CellMap = Y.Map<unknown>;

const C = NOTEBOOK_DOC.cell;

/** Origin of this tab's structural edits; the undo manager tracks it. */
export const LOCAL_ORIGIN = { name: 'quire-web-local' } as const;

export function cellsOf(doc: Y.Doc): Y.Array<CellMap> {
  return doc.getArray<CellMap>(NOTEBOOK_DOC.cells);
}

export function newCellId(): string {
  // nbformat 4.5 ids: 1–64 chars of [a-zA-Z0-9-_].
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function createCell(type: CellType, source = '', id = newCellId()): CellMap {
  const cell = new Y.Map<unknown>();
  cell.set(C.id, id);
  cell.set(C.type, type);
  const text = new Y.Text();
  if (source) text.insert(0, source);
  cell.set(C.source, text);
  cell.set(C.metadata, new Y.Map());
  if (type === 'code') {
    cell.set(C.outputs, new Y.Array());
    cell.set(C.executionCount, null);
  }
  return cell;
}

export const cellId = (cell: CellMap): string => String(cell.get(C.id) ?? '');
export const cellType = (cell: CellMap): CellType => (cell.get(C.type) as CellType) ?? 'code';
export function cellSource(cell: CellMap): Y.Text {
  const s = cell.get(C.source);
  if (s instanceof Y.Text) return s;
  // Not the contract's layout (a plain string): show it, but never write while reading.
  const doc = new Y.Doc();
  const text = doc.getText('source');
  text.insert(0, typeof s === 'string' ? s : '');
  return text;
}
export function cellOutputs(cell: CellMap): Y.Array<unknown> | null {
  const o = cell.get(C.outputs);
  return o instanceof Y.Array ? o : null;
}
export const executionCount = (cell: CellMap): number | null => {
  const n = cell.get(C.executionCount);
  return typeof n === 'number' ? n : null;
};
export const executionInfo = (cell: CellMap): CellExecutionInfo | null =>
  (cell.get(C.execution) as CellExecutionInfo | undefined) ?? null;

export function indexOfCell(doc: Y.Doc, id: string): number {
  const cells = cellsOf(doc);
  for (let i = 0; i < cells.length; i++) if (cellId(cells.get(i)) === id) return i;
  return -1;
}

export function insertCell(doc: Y.Doc, index: number, type: CellType, source = ''): string {
  const cell = createCell(type, source);
  const cells = cellsOf(doc);
  doc.transact(() => cells.insert(clamp(index, 0, cells.length), [cell]), LOCAL_ORIGIN);
  return cellId(cell);
}

export function deleteCells(doc: Y.Doc, ids: readonly string[]): void {
  doc.transact(() => {
    for (const id of ids) {
      const i = indexOfCell(doc, id);
      if (i >= 0) cellsOf(doc).delete(i, 1);
    }
    // A notebook always has a cell to type into.
    if (cellsOf(doc).length === 0) cellsOf(doc).insert(0, [createCell('code')]);
  }, LOCAL_ORIGIN);
}

/** A deep copy with the same id (Yjs has no move: a move is delete + insert of a copy). */
function cloneCell(cell: CellMap): CellMap {
  const copy = new Y.Map<unknown>();
  for (const [key, value] of cell.entries()) {
    if (value instanceof Y.Text) copy.set(key, new Y.Text(value.toString()));
    else if (value instanceof Y.Array)
      copy.set(key, Y.Array.from(value.toArray().map(clonePlain) as Parameters<typeof Y.Array.from>[0]));
    else if (value instanceof Y.Map) {
      const m = new Y.Map<unknown>();
      for (const [k, v] of value.entries()) m.set(k, clonePlain(v));
      copy.set(key, m);
    } else copy.set(key, clonePlain(value));
  }
  return copy;
}

function clonePlain(v: unknown): unknown {
  if (v instanceof Y.AbstractType) return v.toJSON();
  return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

export function moveCell(doc: Y.Doc, id: string, delta: -1 | 1): boolean {
  const cells = cellsOf(doc);
  const from = indexOfCell(doc, id);
  const to = from + delta;
  if (from < 0 || to < 0 || to >= cells.length) return false;
  doc.transact(() => {
    const copy = cloneCell(cells.get(from));
    cells.delete(from, 1);
    cells.insert(to, [copy]);
  }, LOCAL_ORIGIN);
  return true;
}

/** Splits a cell at a character offset; the part after it becomes a new cell below. Returns its id. */
export function splitCell(doc: Y.Doc, id: string, offset: number): string | null {
  const i = indexOfCell(doc, id);
  if (i < 0) return null;
  const cell = cellsOf(doc).get(i);
  const text = cellSource(cell);
  const at = clamp(offset, 0, text.length);
  const tail = text.toString().slice(at).replace(/^\n/, '');
  const head = text.toString().slice(0, at);
  const lead = head.length - head.replace(/\n$/, '').length;
  const created = createCell(cellType(cell), tail);
  doc.transact(() => {
    text.delete(at - lead, text.length - (at - lead));
    cellsOf(doc).insert(i + 1, [created]);
  }, LOCAL_ORIGIN);
  return cellId(created);
}

/** Merges the cell with the one below it (Shift-M); the lower cell's source is appended. */
export function mergeWithNext(doc: Y.Doc, id: string): boolean {
  const cells = cellsOf(doc);
  const i = indexOfCell(doc, id);
  if (i < 0 || i + 1 >= cells.length) return false;
  doc.transact(() => {
    const top = cellSource(cells.get(i));
    const bottom = cellSource(cells.get(i + 1)).toString();
    top.insert(top.length, (top.length > 0 ? '\n' : '') + bottom);
    cells.delete(i + 1, 1);
  }, LOCAL_ORIGIN);
  return true;
}

/** M / Y: changes the type in place, so collaborators' edits to the source are kept. */
export function setCellType(doc: Y.Doc, id: string, type: CellType): void {
  const i = indexOfCell(doc, id);
  if (i < 0) return;
  const cell = cellsOf(doc).get(i);
  if (cellType(cell) === type) return;
  doc.transact(() => {
    cell.set(C.type, type);
    if (type === 'code') {
      if (!(cell.get(C.outputs) instanceof Y.Array)) cell.set(C.outputs, new Y.Array());
      cell.set(C.executionCount, null);
    } else {
      cell.delete(C.outputs);
      cell.delete(C.executionCount);
      cell.delete(C.execution);
    }
  }, LOCAL_ORIGIN);
}

export function clearOutputs(doc: Y.Doc, ids: readonly string[]): void {
  doc.transact(() => {
    for (const id of ids) {
      const i = indexOfCell(doc, id);
      if (i < 0) continue;
      const outputs = cellOutputs(cellsOf(doc).get(i));
      if (outputs && outputs.length) outputs.delete(0, outputs.length);
    }
  }, LOCAL_ORIGIN);
}

/**
 * The notebook's undo manager: one stack over all cells (structure and text),
 * tracking only this tab's origins — a collaborator's edits are never undone.
 * The CodeMirror bindings add their own sync origins to it as they mount.
 */
export function createUndoManager(doc: Y.Doc): Y.UndoManager {
  return new Y.UndoManager(cellsOf(doc), {
    trackedOrigins: new Set<unknown>([LOCAL_ORIGIN]),
    captureTimeout: 500,
  });
}

/**
 * This tab's edits so far (its Yjs client id and clock), sent with Run: the
 * gateway waits until its copy of the document has them, so a cell runs as
 * typed even when the last keystrokes are still on their way.
 */
export function editsUpTo(doc: Y.Doc): EditsUpTo {
  return { clientId: doc.clientID, clock: Y.getState(doc.store, doc.clientID) };
}

/** The notebook as plain text per cell, for tests and the benchmark. */
export function notebookSnapshot(doc: Y.Doc): { id: string; type: CellType; source: string }[] {
  return cellsOf(doc)
    .toArray()
    .map((c) => ({ id: cellId(c), type: cellType(c), source: cellSource(c).toString() }));
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}
