import { ansiSpans, applyCarriageReturns, plainText } from '../src/outputs/stream-text';

describe('stream text (carriage returns and ANSI)', () => {
  it('renders a tqdm progress bar as one updating line', () => {
    const tqdm =
      '\r  0%|          | 0/3 [00:00<?, ?it/s]' +
      '\r 33%|███▎      | 1/3 [00:00<00:00,  9.9it/s]' +
      '\r100%|██████████| 3/3 [00:00<00:00,  9.9it/s]\n' +
      'done\n';
    expect(applyCarriageReturns(tqdm)).toBe('100%|██████████| 3/3 [00:00<00:00,  9.9it/s]\ndone\n');
  });

  it('overwrites like a terminal: a shorter rewrite keeps the tail', () => {
    expect(applyCarriageReturns('hello world\rbye')).toBe('byelo world');
  });

  it('treats CRLF as a line end, not a rewrite', () => {
    expect(applyCarriageReturns('a\r\nb\r\n')).toBe('a\nb\n');
  });

  it('applies backspaces', () => {
    expect(applyCarriageReturns('abc\b\bX')).toBe('aXc');
  });

  it('keeps the line when a carriage return ends the chunk', () => {
    expect(applyCarriageReturns('50%\r')).toBe('50%');
  });

  it('turns ANSI colours into styled spans and never leaks escape codes', () => {
    const spans = ansiSpans('\u001b[31mred\u001b[0m plain \u001b[1;32mbold green\u001b[0m');
    expect(spans.map((s) => s.text)).toEqual(['red', ' plain ', 'bold green']);
    expect(spans[0]!.fg).toBe('ansi-red');
    expect(spans[1]!.fg).toBeNull();
    expect(spans[2]).toMatchObject({ fg: 'ansi-green', bold: true });
    expect(plainText('\u001b[31mred\u001b[0m')).toBe('red');
  });

  it('colours an IPython traceback line', () => {
    const line = '\u001b[0;31mZeroDivisionError\u001b[0m: division by zero';
    expect(plainText(line)).toBe('ZeroDivisionError: division by zero');
    expect(ansiSpans(line)[0]!.fg).toBe('ansi-red');
  });
});
