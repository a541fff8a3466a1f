import { AGENT_CELL_METADATA_KEY, type AgentCellProvenance } from '@quire/contracts';
import * as Y from 'yjs';
import {
  cellsOf,
  deleteCell,
  editCell,
  findCell,
  insertCell,
  markRun,
  provenanceOf,
  renderNotebook,
  setProvenance,
  sourceOf,
  undoRun,
} from './notebook-edits';

const prov = (state: AgentCellProvenance['state'] = 'applied'): AgentCellProvenance => ({
  runId: 'run-1',
  onBehalfOf: { userId: 'u-1', name: 'Alice' },
  step: 1,
  state,
});

/** A person's notebook as doc-sync builds it. */
function personDoc(): Y.Doc {
  const doc = new Y.Doc();
  const cells = cellsOf(doc);
  const make = (id: string, source: string, outputs: unknown[] = []) => {
    const m = new Y.Map<unknown>();
    m.set('id', id);
    m.set('cell_type', 'code');
    m.set('source', new Y.Text(source));
    m.set('metadata', new Y.Map<unknown>([['tags', ['keep']]]));
    m.set('outputs', Y.Array.from(outputs as never[]));
    m.set('execution_count', outputs.length ? 1 : null);
    return m;
  };
  cells.insert(0, [
    make('a', 'import pandas as pd', []),
    make('b', 'df = pd.read_csv("sales.csv")\ndf.head()', [
      { output_type: 'execute_result', data: { 'text/plain': 'x' }, metadata: {}, execution_count: 1 },
    ]),
    make('c', 'df.describe()'),
  ]);
  return doc;
}

describe('notebook edits', () => {
  it('inserts after a cell or at the end, once, with provenance in the metadata', () => {
    const doc = personDoc();
    insertCell(doc, 'n1', 'df.plot()', 'a', prov('pending'));
    insertCell(doc, 'n1', 'df.plot()', 'a', prov('pending'));
    insertCell(doc, 'n2', 'print(1)', null, prov());
    expect(
      cellsOf(doc)
        .toArray()
        .map((c) => c.get('id')),
    ).toEqual(['a', 'n1', 'b', 'c', 'n2']);
    const n1 = findCell(doc, 'n1')!.cell;
    expect(provenanceOf(n1)).toEqual(prov('pending'));
    expect((n1.get('metadata') as Y.Map<unknown>).get(AGENT_CELL_METADATA_KEY)).toEqual(prov('pending'));
    expect(setProvenance(doc, 'n1', prov('accepted'))).toBe(true);
    expect(provenanceOf(n1)!.state).toBe('accepted');
  });

  it('edits keep the common prefix and suffix of the text; deleting twice is harmless', () => {
    const doc = personDoc();
    const text = findCell(doc, 'b')!.cell.get('source') as Y.Text;
    const deltas: unknown[] = [];
    text.observe((e) => deltas.push(e.delta));
    expect(editCell(doc, 'b', 'df = pd.read_csv("sales.csv", sep=";")\ndf.head()', prov())).toBe(true);
    expect(sourceOf(findCell(doc, 'b')!.cell)).toBe('df = pd.read_csv("sales.csv", sep=";")\ndf.head()');
    expect(deltas).toEqual([[{ retain: 28 }, { insert: ', sep=";"' }]]);
    expect(editCell(doc, 'zzz', 'x', prov())).toBe(false);
    expect(deleteCell(doc, 'c')).toBe(true);
    expect(deleteCell(doc, 'c')).toBe(false);
  });

  it('undo of a run restores the document exactly, and keeps a person’s concurrent edit of another cell', () => {
    const doc = personDoc();
    const preRun = Y.encodeStateAsUpdate(doc);
    const preJson = doc.toJSON();
    const touched = new Set<string>();
    // The run: inserts two cells, edits one, deletes one, runs one (outputs + run mark change).
    insertCell(doc, 'n1', 'df.plot()', 'b', prov());
    insertCell(doc, 'n2', 'x = 1', null, prov());
    editCell(doc, 'a', 'import pandas as pd\nimport numpy as np', prov());
    deleteCell(doc, 'c');
    markRun(doc, 'b', { runKey: 'k', at: new Date(0).toISOString() });
    const outs = findCell(doc, 'b')!.cell.get('outputs') as Y.Array<unknown>;
    doc.transact(() => {
      outs.delete(0, outs.length);
      outs.push([{ output_type: 'stream', name: 'stdout', text: 'changed' }]);
    });
    for (const id of ['n1', 'n2', 'a', 'c', 'b']) touched.add(id);
    expect(doc.toJSON()).not.toEqual(preJson);

    const undone = undoRun(doc, preRun, touched);
    expect(undone.restored).toBe(5);
    expect(doc.toJSON()).toEqual(preJson);

    // With a person's edit to a cell the run never touched: that edit stays.
    const doc2 = personDoc();
    const pre2 = Y.encodeStateAsUpdate(doc2);
    insertCell(doc2, 'n1', 'df.plot()', null, prov());
    (findCell(doc2, 'c')!.cell.get('source') as Y.Text).insert(0, '# mine\n');
    undoRun(doc2, pre2, ['n1']);
    expect(
      cellsOf(doc2)
        .toArray()
        .map((c) => c.get('id')),
    ).toEqual(['a', 'b', 'c']);
    expect(sourceOf(findCell(doc2, 'c')!.cell)).toBe('# mine\ndf.describe()');
  });

  it('renders the notebook for the model with ids, sources, shortened outputs and pending marks', () => {
    const doc = personDoc();
    insertCell(doc, 'n1', 'df.plot()', null, prov('pending'));
    const text = renderNotebook(doc);
    expect(text).toContain('## cell b [code]\ndf = pd.read_csv("sales.csv")\ndf.head()\n### output\nx');
    expect(text).toContain('## cell n1 [code] (written by the agent, pending review)');
    expect(renderNotebook(new Y.Doc())).toBe('(the notebook is empty)');
  });
});
