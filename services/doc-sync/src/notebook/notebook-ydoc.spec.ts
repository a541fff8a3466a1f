import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as Y from 'yjs';
import { exportIpynb, IpynbError, parseIpynb, replaceNotebook, splitLines } from './notebook-ydoc';

const FIXTURE = join(__dirname, '..', '..', 'test', 'fixtures', 'real-world.ipynb');
const fixture = () => JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;

/** Through a Y.Doc and through the wire (encoded state into a second doc), then back to JSON. */
function roundTrip(nb: unknown): unknown {
  const a = new Y.Doc();
  replaceNotebook(a, parseIpynb(nb));
  const b = new Y.Doc();
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
  return JSON.parse(JSON.stringify(exportIpynb(b)));
}

describe('.ipynb ⇄ Y.Doc', () => {
  it('the real-world fixture has what the round trip must keep', () => {
    const text = readFileSync(FIXTURE, 'utf8');
    for (const needle of [
      '"image/png"',
      '"output_type": "error"',
      '"traceback"',
      '"cell_type": "markdown"',
      '"output_type": "stream"',
      '"cell_type": "raw"',
    ]) {
      expect(text).toContain(needle);
    }
  });

  it('is lossless for cells and outputs of a real notebook (images, errors, markdown, streams)', () => {
    const original = fixture();
    expect(roundTrip(original)).toEqual(original);
  });

  it('keeps the JupyterLab YNotebook layout: cells array of maps with Y.Text sources', () => {
    const doc = new Y.Doc();
    replaceNotebook(doc, parseIpynb(fixture()));
    const cells = doc.getArray<Y.Map<unknown>>('cells');
    const first = cells.get(1);
    expect(first.get('source')).toBeInstanceOf(Y.Text);
    expect(first.get('metadata')).toBeInstanceOf(Y.Map);
    expect(first.get('outputs')).toBeInstanceOf(Y.Array);
    expect((first.get('outputs') as Y.Array<{ text: string }>).get(0).text).toBe('hello from the kernel\n');
    expect(doc.getMap('meta').get('nbformat')).toBe(4);
  });

  it('gives nbformat 4.4 cells (no ids) fresh unique ids and writes 4.5', () => {
    const nb = {
      nbformat: 4,
      nbformat_minor: 4,
      metadata: {},
      cells: [
        { cell_type: 'code', source: 'a', metadata: {}, outputs: [], execution_count: null },
        { cell_type: 'markdown', source: ['# t\n', 'x'], metadata: {} },
      ],
    };
    const out = roundTrip(nb) as { nbformat_minor: number; cells: { id: string; source: string[] }[] };
    expect(out.nbformat_minor).toBe(5);
    expect(new Set(out.cells.map((c) => c.id)).size).toBe(2);
    expect(out.cells[1]!.source).toEqual(['# t\n', 'x']);
  });

  it('refuses what is not an nbformat 4 notebook, saying where', () => {
    expect(() => parseIpynb({ nbformat: 3, nbformat_minor: 0, cells: [] })).toThrow(/nbformat 4/);
    expect(() =>
      parseIpynb({ nbformat: 4, nbformat_minor: 5, cells: [{ cell_type: 'code', source: 1 }] }),
    ).toThrow(IpynbError);
    expect(() =>
      parseIpynb({
        nbformat: 4,
        nbformat_minor: 5,
        cells: [{ cell_type: 'code', source: '', outputs: [{ output_type: 'bogus' }] }],
      }),
    ).toThrow(/cells\.0\.outputs\.0/);
    expect(() =>
      parseIpynb({
        nbformat: 4,
        nbformat_minor: 5,
        cells: [
          { cell_type: 'raw', id: 'x', source: '' },
          { cell_type: 'raw', id: 'x', source: '' },
        ],
      }),
    ).toThrow(/duplicate cell id x/);
  });

  it('splits lines like Python str.splitlines(keepends=True)', () => {
    expect(splitLines('a\nb\r\nc\rd')).toEqual(['a\n', 'b\r\n', 'c\r', 'd']);
    expect(splitLines('')).toEqual([]);
    expect(splitLines('x\n')).toEqual(['x\n']);
  });
});
