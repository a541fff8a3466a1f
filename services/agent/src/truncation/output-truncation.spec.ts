import { OUTPUT_REF_MIME, type NotebookOutput } from '@quire/contracts';
import {
  capStepResults,
  coalesceStreams,
  DEFAULT_TRUNCATION_RULES,
  stripAnsi,
  truncateOutputs,
  truncateText,
  type TruncationRules,
} from './output-truncation';

const lines = (n: number, prefix = 'line') =>
  Array.from({ length: n }, (_, i) => `${prefix} ${i}`).join('\n');

describe('truncateText', () => {
  it('leaves text within the cap untouched', () => {
    expect(truncateText('short\ntext', 100)).toBe('short\ntext');
  });

  it('keeps head and tail at line boundaries with a marker counting what was left out, within the cap', () => {
    const text = lines(1000);
    const cut = truncateText(text, 500);
    expect(cut.length).toBeLessThanOrEqual(500);
    expect(cut.startsWith('line 0\nline 1\n')).toBe(true);
    expect(cut.endsWith('line 999')).toBe(true);
    const m = /\n… \[omitted (\d+) lines, (\d+) chars\] …\n/.exec(cut);
    expect(m).not.toBeNull();
    // What is shown plus what the marker says was omitted is the whole text.
    const [head, tail] = cut.split(m![0]);
    expect(head!.length + Number(m![2]) + tail!.length).toBe(text.length);
    expect(text.slice(head!.length, text.length - tail!.length).split('\n').length).toBe(Number(m![1]));
    // Whole lines on both sides of the marker.
    expect(head!.endsWith('\n')).toBe(true);
    expect(tail!.startsWith('line ')).toBe(true);
  });

  it('gives the head its share of the budget', () => {
    const text = 'x'.repeat(10_000);
    const headHeavy = truncateText(text, 1000, 0.9).split('…')[0]!.length;
    const tailHeavy = truncateText(text, 1000, 0.1).split('…')[0]!.length;
    expect(headHeavy).toBeGreaterThan(tailHeavy * 5);
  });

  it('refuses a negative cap or a share outside [0, 1]', () => {
    expect(() => truncateText('abc', -1)).toThrow(/non-negative/);
    expect(() => truncateText('abc', 10, 1.5)).toThrow(/headShare/);
  });
});

describe('truncateOutputs', () => {
  const rules: TruncationRules = { ...DEFAULT_TRUNCATION_RULES, perOutputChars: 300, perCellChars: 800 };

  it('joins stream chunks and cuts a long stream in head and tail', () => {
    const chunks: NotebookOutput[] = Array.from({ length: 200 }, (_, i) => ({
      output_type: 'stream',
      name: 'stdout',
      text: `row ${i}\n`,
    }));
    expect(coalesceStreams(chunks)).toHaveLength(1);
    const shown = truncateOutputs(chunks, rules);
    expect(shown).toContain('row 0\n');
    expect(shown).toContain('row 199');
    expect(shown).toMatch(/omitted \d+ lines/);
    expect(shown.length).toBeLessThanOrEqual(rules.perOutputChars);
  });

  it('marks stderr, strips ANSI colour codes', () => {
    expect(stripAnsi('\u001b[31mred\u001b[0m')).toBe('red');
    const shown = truncateOutputs([
      { output_type: 'stream', name: 'stderr', text: '\u001b[33mwarn\u001b[0m\n' },
    ]);
    expect(shown).toBe('[stderr]\nwarn\n');
  });

  it('replaces images and HTML by a short description and shows the text/plain twin of a DataFrame', () => {
    const png = 'iVBORw0KGgo'.repeat(2000);
    const shown = truncateOutputs(
      [
        {
          output_type: 'display_data',
          data: { 'image/png': png, 'text/plain': '<Figure size 640x480>' },
          metadata: {},
        },
        { output_type: 'display_data', data: { 'text/html': '<table>' + '<tr>'.repeat(500) }, metadata: {} },
        {
          output_type: 'execute_result',
          data: { 'text/html': '<table>…</table>', 'text/plain': '   a  b\n0  1  2' },
          metadata: {},
          execution_count: 3,
        },
      ],
      rules,
    );
    expect(shown).not.toContain('iVBOR');
    expect(shown).not.toContain('<table>');
    expect(shown).toMatch(/\[image\/png output, \d+\.\d KB, not shown\]/);
    expect(shown).toContain('<Figure size 640x480>');
    expect(shown).toMatch(/\[HTML output, 2007 chars, not shown\]/);
    expect(shown).toContain('   a  b\n0  1  2');
  });

  it('describes an output kept outside the notebook with its size and a short preview', () => {
    const shown = truncateOutputs([
      {
        output_type: 'display_data',
        data: {
          [OUTPUT_REF_MIME]: { url: '/x', mime: 'text/plain', bytes: 3_000_000, truncated: false },
          'text/plain': 'first lines…',
        },
        metadata: {},
      },
    ]);
    expect(shown).toContain('[large text/plain of 2929.7 KB kept outside the notebook, not shown]');
    expect(shown).toContain('preview: first lines…');
  });

  it('shows an error as ename: evalue and the end of its traceback', () => {
    const traceback = [
      ...Array.from({ length: 100 }, (_, i) => `\u001b[0;32m  frame ${i}\u001b[0m`),
      'KeyError: "price"',
    ];
    const shown = truncateOutputs(
      [{ output_type: 'error', ename: 'KeyError', evalue: "'price'", traceback }],
      rules,
    );
    expect(shown.startsWith("KeyError: 'price'")).toBe(true);
    expect(shown).toContain('KeyError: "price"');
    expect(shown).not.toContain('\u001b');
    expect(shown.length).toBeLessThanOrEqual(rules.perOutputChars);
  });

  it('holds a cell to its cap and says how many outputs were left out', () => {
    const many: NotebookOutput[] = Array.from({ length: 10 }, (_, i) => ({
      output_type: 'execute_result',
      data: { 'text/plain': `${i}`.repeat(250) },
      metadata: {},
      execution_count: i,
    }));
    const shown = truncateOutputs(many, rules);
    expect(shown.length).toBeLessThanOrEqual(rules.perCellChars);
    expect(shown).toMatch(/\d+ more outputs not shown: the cell's output cap of 800 chars was reached/);
  });

  it('says so when there is no output', () => {
    expect(truncateOutputs([])).toBe('(no output)');
  });
});

describe('capStepResults', () => {
  it('keeps results within the step cap in order: cuts the one that crosses it, replaces the rest', () => {
    const results = ['a'.repeat(400), 'b'.repeat(400), 'c'.repeat(400)];
    const capped = capStepResults(results, 1000);
    expect(capped[0]).toBe(results[0]);
    expect(capped[1]).toBe(results[1]);
    expect(capped[2]!.length).toBeLessThanOrEqual(200);
    expect(capped[2]).toContain('omitted');
    expect(capped.join('').length).toBeLessThanOrEqual(1000);
    expect(capStepResults(results, 810)[2]).toMatch(/step's output cap of 810 chars/);
  });
});
