import Anser from 'anser';

/**
 * Terminal-like text for stream outputs, tracebacks and plain reprs: carriage
 * returns overwrite the current line (so tqdm's `\r 45%|████ |` updates render
 * as one line, like a terminal shows them), backspaces erase, and ANSI SGR
 * codes become styled spans. Pure: the React view maps spans to elements, so
 * no kernel text is ever injected as HTML.
 */

export interface StyledSpan {
  text: string;
  /** Anser class suffixes, e.g. "ansi-red" (foreground) / "ansi-red" (background). */
  fg: string | null;
  bg: string | null;
  /** rgb "r, g, b" for 256-colour / truecolour codes Anser cannot name. */
  fgRgb: string | null;
  bgRgb: string | null;
  bold: boolean;
  italic: boolean;
  underline: boolean;
  dim: boolean;
}

/** One kept line after a carriage return rewrote it `overwrites` times. */
export function applyCarriageReturns(text: string): string {
  // Windows line ends are plain line ends, not a rewrite of the line.
  const normalised = text.replace(/\r+\n/g, '\n');
  const lines = normalised.split('\n');
  return lines.map(foldLine).join('\n');
}

function foldLine(line: string): string {
  if (!line.includes('\r') && !line.includes('\x08')) return line;
  // Terminal semantics: `\r` moves to column 0 and later characters overwrite;
  // what the new text does not cover stays visible (as in a real terminal).
  let current = '';
  let col = 0;
  let run = '';
  const flush = () => {
    current = current.slice(0, col) + run + current.slice(col + run.length);
    col += run.length;
    run = '';
  };
  for (const ch of line) {
    if (ch === '\r' || ch === '\x08') {
      flush();
      col = ch === '\r' ? 0 : Math.max(0, col - 1);
    } else run += ch;
  }
  flush();
  return current;
}

/** Styled spans of a text with ANSI codes (after carriage-return folding). */
export function ansiSpans(text: string): StyledSpan[] {
  const entries = Anser.ansiToJson(applyCarriageReturns(text), { use_classes: true, remove_empty: true });
  const spans: StyledSpan[] = [];
  for (const e of entries) {
    if (!e.content) continue;
    const named = (c: string) => (c && c.startsWith('ansi-') ? c : null);
    const rgb = (c: string) => (c && !c.startsWith('ansi-') ? c : null);
    const span: StyledSpan = {
      text: e.content,
      fg: named(e.fg),
      bg: named(e.bg),
      fgRgb: rgb(e.fg),
      bgRgb: rgb(e.bg),
      bold: e.decorations.includes('bold'),
      italic: e.decorations.includes('italic'),
      underline: e.decorations.includes('underline'),
      dim: e.decorations.includes('dim'),
    };
    const prev = spans[spans.length - 1];
    if (prev && sameStyle(prev, span)) prev.text += span.text;
    else spans.push(span);
  }
  return spans;
}

function sameStyle(a: StyledSpan, b: StyledSpan): boolean {
  return (
    a.fg === b.fg &&
    a.bg === b.bg &&
    a.fgRgb === b.fgRgb &&
    a.bgRgb === b.bgRgb &&
    a.bold === b.bold &&
    a.italic === b.italic &&
    a.underline === b.underline &&
    a.dim === b.dim
  );
}

/** Text without any ANSI codes (for copying, accessibility labels, tests). */
export function plainText(text: string): string {
  return ansiSpans(text)
    .map((s) => s.text)
    .join('');
}
