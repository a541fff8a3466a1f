import * as Y from 'yjs';
import {
  cellsOf,
  cellSource,
  cellType,
  createCell,
  createUndoManager,
  deleteCells,
  insertCell,
  mergeWithNext,
  moveCell,
  notebookSnapshot,
  setCellType,
  splitCell,
} from '../src/notebook/notebook-model';

function notebook(...sources: string[]): Y.Doc {
  const doc = new Y.Doc();
  cellsOf(doc).insert(
    0,
    sources.map((s, i) => createCell('code', s, `c${i}`)),
  );
  return doc;
}
const sources = (doc: Y.Doc) => notebookSnapshot(doc).map((c) => c.source);

/** Connects two docs both ways, like a sync server would. */
function link(a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b));
  a.on('update', (u: Uint8Array, origin: unknown) => origin !== 'remote' && Y.applyUpdate(b, u, 'remote'));
  b.on('update', (u: Uint8Array, origin: unknown) => origin !== 'remote' && Y.applyUpdate(a, u, 'remote'));
}

describe('notebook model', () => {
  it('creates cells in the contracts layout', () => {
    const doc = notebook('x = 1');
    const cell = cellsOf(doc).get(0);
    expect(cell.get('id')).toBe('c0');
    expect(cell.get('cell_type')).toBe('code');
    expect(cell.get('source')).toBeInstanceOf(Y.Text);
    expect(cell.get('outputs')).toBeInstanceOf(Y.Array);
    expect(cell.get('execution_count')).toBeNull();
    expect(cell.get('metadata')).toBeInstanceOf(Y.Map);
  });

  it('inserts, moves and deletes cells', () => {
    const doc = notebook('a', 'b', 'c');
    insertCell(doc, 1, 'markdown', '# title');
    expect(sources(doc)).toEqual(['a', '# title', 'b', 'c']);
    expect(moveCell(doc, 'c0', 1)).toBe(true);
    expect(sources(doc)).toEqual(['# title', 'a', 'b', 'c']);
    expect(notebookSnapshot(doc)[1]!.id).toBe('c0');
    expect(moveCell(doc, 'c2', 1)).toBe(false);
    deleteCells(doc, ['c1', 'c2']);
    expect(sources(doc)).toEqual(['# title', 'a']);
    deleteCells(
      doc,
      notebookSnapshot(doc).map((c) => c.id),
    );
    expect(sources(doc)).toEqual(['']);
  });

  it('splits at the cursor and merges back', () => {
    const doc = notebook('import os\nprint(os.getcwd())');
    const created = splitCell(doc, 'c0', 'import os\n'.length);
    expect(created).not.toBeNull();
    expect(sources(doc)).toEqual(['import os', 'print(os.getcwd())']);
    expect(mergeWithNext(doc, 'c0')).toBe(true);
    expect(sources(doc)).toEqual(['import os\nprint(os.getcwd())']);
  });

  it('changes type in place, keeping the source', () => {
    const doc = notebook('# Heading');
    setCellType(doc, 'c0', 'markdown');
    const cell = cellsOf(doc).get(0);
    expect(cellType(cell)).toBe('markdown');
    expect(cell.has('outputs')).toBe(false);
    expect(cellSource(cell).toString()).toBe('# Heading');
    setCellType(doc, 'c0', 'code');
    expect(cell.get('outputs')).toBeInstanceOf(Y.Array);
  });

  it('undo restores a deleted cell but never undoes a collaborator', () => {
    const mine = notebook('a', 'b');
    const theirs = new Y.Doc();
    link(mine, theirs);
    const undo = createUndoManager(mine);

    deleteCells(mine, ['c1']);
    // The collaborator types into the remaining cell meanwhile.
    cellSource(cellsOf(theirs).get(0)).insert(1, '!');
    expect(sources(theirs)).toEqual(['a!']);

    undo.undo();
    expect(sources(mine)).toEqual(['a!', 'b']);
    expect(sources(theirs)).toEqual(['a!', 'b']);
    // Nothing of mine is left to undo; their "!" stays.
    undo.undo();
    expect(sources(mine)).toEqual(['a!', 'b']);
  });
});
