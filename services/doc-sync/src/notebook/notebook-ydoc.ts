import { NOTEBOOK_DOC, type NotebookOutput } from '@quire/contracts';
import { randomUUID } from 'node:crypto';
import * as Y from 'yjs';
import { ipynbSchema, type Ipynb, type IpynbCell, type IpynbOutput } from './ipynb-schema';

/**
 * The notebook Y.Doc layout of contracts/src/notebook/notebook-document.ts
 * (JupyterLab's @jupyter/ydoc YNotebook) ⇄ nbformat 4 JSON.
 *
 * In the document, multi-line strings are plain strings (what the editor and
 * the gateway write). On export they are split into lines exactly where
 * nbformat's own writer splits them (cell sources, stream text, `text/*`,
 * `application/javascript` and `image/svg+xml` bundle entries), so a notebook
 * written by Jupyter comes back byte-for-byte equal in structure.
 */
const C = NOTEBOOK_DOC.cell;

export class IpynbError extends Error {
  constructor(readonly problems: string[]) {
    super(`not a valid nbformat 4 notebook: ${problems.slice(0, 5).join('; ')}`);
    this.name = 'IpynbError';
  }
}

export function parseIpynb(input: unknown): Ipynb {
  const parsed = ipynbSchema.safeParse(input);
  if (!parsed.success) {
    throw new IpynbError(parsed.error.issues.map((i) => `${i.path.join('.') || '(notebook)'}: ${i.message}`));
  }
  const seen = new Set<string>();
  for (const [i, cell] of parsed.data.cells.entries()) {
    if (cell.id && seen.has(cell.id)) throw new IpynbError([`cells.${i}.id: duplicate cell id ${cell.id}`]);
    if (cell.id) seen.add(cell.id);
  }
  return parsed.data;
}

const joinLines = (v: string | string[]): string => (Array.isArray(v) ? v.join('') : v);

/** Python's str.splitlines(keepends=True), which nbformat uses. */
export function splitLines(s: string): string[] {
  const out: string[] = [];
  // Python's line boundaries include the file/group/record separators (0x1c-0x1e).
  // eslint-disable-next-line no-control-regex
  const re = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/g;
  let start = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    out.push(s.slice(start, m.index + m[0].length));
    start = m.index + m[0].length;
  }
  if (start < s.length) out.push(s.slice(start));
  return out;
}

const isJsonMime = (mime: string) =>
  mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
const splitsMime = (mime: string) =>
  mime.startsWith('text/') || mime === 'application/javascript' || mime === 'image/svg+xml';

function joinBundle(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    out[k] = !isJsonMime(k) && Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join('') : v;
  }
  return out;
}

function splitBundle(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data))
    out[k] = typeof v === 'string' && splitsMime(k) ? splitLines(v) : v;
  return out;
}

export function outputFromIpynb(o: IpynbOutput): NotebookOutput {
  switch (o.output_type) {
    case 'stream':
      return { output_type: 'stream', name: o.name, text: joinLines(o.text) };
    case 'display_data':
      return {
        output_type: 'display_data',
        data: joinBundle(o.data),
        metadata: o.metadata,
        ...(o.transient ? { transient: o.transient } : {}),
      } as NotebookOutput;
    case 'execute_result':
      return {
        output_type: 'execute_result',
        data: joinBundle(o.data),
        metadata: o.metadata,
        execution_count: o.execution_count,
      };
    case 'error':
      return { output_type: 'error', ename: o.ename, evalue: o.evalue, traceback: [...o.traceback] };
  }
}

export function outputToIpynb(o: NotebookOutput): Record<string, unknown> {
  switch (o.output_type) {
    case 'stream':
      return { output_type: 'stream', name: o.name, text: splitLines(o.text) };
    case 'display_data':
      // `transient` is runtime-only in nbformat; it is not written to files.
      return { output_type: 'display_data', data: splitBundle(o.data), metadata: o.metadata };
    case 'execute_result':
      return {
        output_type: 'execute_result',
        data: splitBundle(o.data),
        metadata: o.metadata,
        execution_count: o.execution_count,
      };
    case 'error':
      return { output_type: 'error', ename: o.ename, evalue: o.evalue, traceback: o.traceback };
  }
}

/** A fresh cell id in nbformat 4.5's alphabet. */
export const newCellId = (): string => randomUUID().replace(/-/g, '').slice(0, 16);

/** Builds one cell's Y.Map (not yet integrated into a document). */
export function cellToYMap(cell: IpynbCell, id = cell.id ?? newCellId()): Y.Map<unknown> {
  const m = new Y.Map<unknown>();
  m.set(C.id, id);
  m.set(C.type, cell.cell_type);
  m.set(C.source, new Y.Text(joinLines(cell.source)));
  const meta = new Y.Map<unknown>();
  for (const [k, v] of Object.entries(cell.metadata ?? {})) meta.set(k, v);
  m.set(C.metadata, meta);
  if (cell.cell_type === 'code') {
    m.set(C.outputs, Y.Array.from(cell.outputs.map(outputFromIpynb)));
    m.set(C.executionCount, cell.execution_count);
  } else if (cell.attachments) {
    m.set(C.attachments, cell.attachments);
  }
  return m;
}

export function cellFromYMap(m: Y.Map<unknown>): IpynbCell {
  const type = m.get(C.type) as IpynbCell['cell_type'];
  const source = splitLines(String(m.get(C.source) ?? ''));
  const metaValue = m.get(C.metadata);
  const metadata =
    metaValue instanceof Y.Map
      ? (metaValue.toJSON() as Record<string, unknown>)
      : ((metaValue ?? {}) as Record<string, unknown>);
  const id = m.get(C.id) as string;
  if (type === 'code') {
    const outputs = m.get(C.outputs);
    const list = (
      outputs instanceof Y.Array ? outputs.toArray() : ((outputs ?? []) as unknown[])
    ) as NotebookOutput[];
    return {
      cell_type: 'code',
      id,
      metadata,
      source,
      outputs: list.map(outputToIpynb) as IpynbOutput[],
      execution_count: (m.get(C.executionCount) as number | null | undefined) ?? null,
    };
  }
  const attachments = m.get(C.attachments) as Record<string, unknown> | undefined;
  return { cell_type: type, id, metadata, source, ...(attachments ? { attachments } : {}) };
}

/** Replaces the whole content of `doc` with `nb` in one transaction (one Yjs update). */
export function replaceNotebook(doc: Y.Doc, nb: Ipynb, origin: unknown = 'import'): void {
  const cells = doc.getArray<Y.Map<unknown>>(NOTEBOOK_DOC.cells);
  const meta = doc.getMap<unknown>(NOTEBOOK_DOC.meta);
  doc.transact(() => {
    if (cells.length) cells.delete(0, cells.length);
    cells.insert(
      0,
      nb.cells.map((c) => cellToYMap(c)),
    );
    meta.set('nbformat', 4);
    // Cell ids exist from 4.5 on; imported 4.0–4.4 notebooks get ids and become 4.5.
    meta.set('nbformat_minor', Math.max(nb.nbformat_minor, 5));
    meta.set('metadata', nb.metadata);
  }, origin);
}

export function exportIpynb(doc: Y.Doc): Ipynb {
  const cells = doc.getArray<Y.Map<unknown>>(NOTEBOOK_DOC.cells);
  const meta = doc.getMap<unknown>(NOTEBOOK_DOC.meta);
  return {
    nbformat: 4,
    nbformat_minor: (meta.get('nbformat_minor') as number | undefined) ?? 5,
    metadata: (meta.get('metadata') as Record<string, unknown> | undefined) ?? {},
    cells: cells.toArray().map(cellFromYMap),
  };
}

/** One empty code cell: what a new notebook holds. */
export function emptyNotebook(): Ipynb {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' },
      language_info: { name: 'python' },
    },
    cells: [
      { cell_type: 'code', id: newCellId(), source: '', metadata: {}, outputs: [], execution_count: null },
    ],
  };
}

export function cellCount(doc: Y.Doc): number {
  return doc.getArray(NOTEBOOK_DOC.cells).length;
}
