import { OUTPUT_REF_MIME, type NotebookOutput } from '@quire/contracts';

/**
 * What the model is shown of a cell's outputs. The full outputs stay in the
 * notebook for people; the model gets text cut by these written rules:
 *
 *  1. ANSI escape codes are removed; consecutive stream chunks of the same
 *     stream (stdout/stderr) are joined first.
 *  2. A stream longer than `perOutputChars` keeps its head (`headShare` of the
 *     budget) and its tail, cut at line boundaries, with a marker saying how
 *     many lines and characters were left out between them.
 *  3. Rich outputs show `text/plain` (cut like a stream). Images and HTML are
 *     never shown: an image becomes `[image/png output, 12.3 KB, not shown]`,
 *     HTML without a text/plain twin `[HTML output, 5012 chars, not shown]`;
 *     a large output kept outside the notebook becomes a note with its size.
 *  4. An error shows `ename: evalue` and the tail of its traceback (the frame
 *     that raised is at the end), within `perOutputChars`.
 *  5. All outputs of one cell together stay within `perCellChars`; outputs
 *     beyond it are counted in a marker, not shown.
 *  6. All tool results of one step (one LLM answer may call several tools)
 *     stay within `perStepChars` (capStepResults).
 *
 * Pure: no I/O, no Node built-ins — the workflow uses capStepResults too.
 */
export interface TruncationRules {
  perOutputChars: number;
  perCellChars: number;
  perStepChars: number;
  /** Share of a cut text's budget given to its head (the rest to its tail). */
  headShare: number;
}

export const DEFAULT_TRUNCATION_RULES: TruncationRules = {
  perOutputChars: 2_000,
  perCellChars: 4_000,
  perStepChars: 8_000,
  headShare: 0.6,
};

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

const lineCount = (s: string): number => (s.length === 0 ? 0 : s.split('\n').length);

/**
 * Cuts `text` to at most `max` characters (marker included when it fits):
 * head and tail at line boundaries where a line boundary is near, with a
 * marker `… [omitted N lines, M chars] …` between them.
 */
export function truncateText(
  text: string,
  max: number,
  headShare = DEFAULT_TRUNCATION_RULES.headShare,
): string {
  if (!Number.isInteger(max) || max < 0)
    throw new RangeError(`max must be a non-negative integer, got ${max}`);
  if (!(headShare >= 0 && headShare <= 1))
    throw new RangeError(`headShare must be in [0, 1], got ${headShare}`);
  if (text.length <= max) return text;
  const markerFor = (omitted: string) =>
    `\n… [omitted ${lineCount(omitted)} lines, ${omitted.length} chars] …\n`;
  // The marker's length depends on the numbers in it; reserve for the widest case.
  const reserve = markerFor(text).length;
  if (max <= reserve) return text.slice(0, max);
  const budget = max - reserve;
  let headEnd = Math.floor(budget * headShare);
  let tailStart = text.length - (budget - headEnd);
  // Prefer whole lines: move the cuts to a newline when one is close (within a quarter of the part).
  const nlBefore = text.lastIndexOf('\n', headEnd - 1);
  if (nlBefore >= 0 && headEnd - nlBefore <= Math.max(1, headEnd / 4)) headEnd = nlBefore + 1;
  const nlAfter = text.indexOf('\n', tailStart);
  if (nlAfter >= 0 && nlAfter + 1 - tailStart <= Math.max(1, (text.length - tailStart) / 4))
    tailStart = nlAfter + 1;
  if (tailStart < headEnd) tailStart = headEnd;
  return text.slice(0, headEnd) + markerFor(text.slice(headEnd, tailStart)) + text.slice(tailStart);
}

function plainText(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join('');
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function sizeLabel(chars: number): string {
  return chars < 1024 ? `${chars} B` : `${(chars / 1024).toFixed(1)} KB`;
}

/** One rich output (execute_result / display_data) as the model sees it. */
function describeRich(data: Record<string, unknown>, rules: TruncationRules): string {
  const ref = data[OUTPUT_REF_MIME] as { mime?: string; bytes?: number } | undefined;
  const notes: string[] = [];
  if (ref)
    notes.push(
      `[large ${ref.mime ?? 'output'} of ${sizeLabel(ref.bytes ?? 0)} kept outside the notebook, not shown]`,
    );
  const images = Object.keys(data).filter((m) => m.startsWith('image/'));
  for (const mime of images)
    notes.push(`[${mime} output, ${sizeLabel(plainText(data[mime]).length)}, not shown]`);
  const text = data['text/plain'];
  if (text !== undefined && !ref) {
    const shown = stripAnsi(plainText(text));
    // A figure's text/plain is only its repr (`<Figure size 640x480 with 1 Axes>`): keep it beside the note.
    return [...notes, truncateText(shown, rules.perOutputChars, rules.headShare)].join('\n');
  }
  if (ref && text !== undefined)
    notes.push(`preview: ${truncateText(stripAnsi(plainText(text)), Math.min(500, rules.perOutputChars))}`);
  const html = data['text/html'];
  if (html !== undefined && text === undefined)
    notes.push(`[HTML output, ${plainText(html).length} chars, not shown]`);
  const others = Object.keys(data).filter(
    (m) => !m.startsWith('image/') && m !== 'text/plain' && m !== 'text/html' && m !== OUTPUT_REF_MIME,
  );
  if (others.length && notes.length === 0) notes.push(`[${others.join(', ')} output, not shown]`);
  return notes.join('\n');
}

function describeError(o: Extract<NotebookOutput, { output_type: 'error' }>, rules: TruncationRules): string {
  const head = `${o.ename}: ${stripAnsi(o.evalue)}`;
  const trace = stripAnsi((o.traceback ?? []).join('\n'));
  if (!trace) return truncateText(head, rules.perOutputChars, rules.headShare);
  // The frame that raised is at the end: keep most of the budget for the tail.
  return truncateText(`${head}\n${trace}`, rules.perOutputChars, 0.3);
}

/** Joins consecutive chunks of the same stream: kernels emit a stream in many small messages. */
export function coalesceStreams(outputs: readonly NotebookOutput[]): NotebookOutput[] {
  const out: NotebookOutput[] = [];
  for (const o of outputs) {
    const last = out[out.length - 1];
    if (o.output_type === 'stream' && last?.output_type === 'stream' && last.name === o.name)
      out[out.length - 1] = { ...last, text: last.text + o.text };
    else out.push(o);
  }
  return out;
}

/** One cell's outputs as the text the model is shown (rules 1–5). Empty outputs: `(no output)`. */
export function truncateOutputs(
  outputs: readonly NotebookOutput[],
  rules: TruncationRules = DEFAULT_TRUNCATION_RULES,
): string {
  const parts: string[] = [];
  for (const o of coalesceStreams(outputs)) {
    switch (o.output_type) {
      case 'stream': {
        const text = truncateText(stripAnsi(o.text), rules.perOutputChars, rules.headShare);
        parts.push(o.name === 'stderr' ? `[stderr]\n${text}` : text);
        break;
      }
      case 'execute_result':
      case 'display_data':
        parts.push(describeRich(o.data ?? {}, rules));
        break;
      case 'error':
        parts.push(describeError(o, rules));
        break;
    }
  }
  const shown: string[] = [];
  let used = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    // Parts are joined by one newline.
    const room = rules.perCellChars - used - (shown.length ? 1 : 0);
    if (part.length <= room) {
      shown.push(part);
      used += part.length + (shown.length > 1 ? 1 : 0);
      continue;
    }
    const rest = parts.length - i;
    const marker = `… [${rest} more output${rest === 1 ? '' : 's'} not shown: the cell's output cap of ${rules.perCellChars} chars was reached]`;
    if (room > marker.length + 200)
      shown.push(truncateText(part, room - marker.length - 1, rules.headShare), marker);
    else if (room >= marker.length) shown.push(marker);
    else if (shown.length) shown[shown.length - 1] = marker;
    else shown.push(marker.slice(0, rules.perCellChars));
    break;
  }
  return shown.length ? shown.join('\n') : '(no output)';
}

/**
 * Keeps one step's tool results within `perStepChars` together, in order: the
 * result that crosses the cap is cut, later ones are replaced by a marker.
 */
export function capStepResults(results: readonly string[], perStepChars: number): string[] {
  let used = 0;
  return results.map((r) => {
    const room = perStepChars - used;
    if (r.length <= room) {
      used += r.length;
      return r;
    }
    const marker = `[output omitted: this step's output cap of ${perStepChars} chars was reached]`;
    if (room <= marker.length + 100) {
      used = perStepChars;
      return marker;
    }
    used = perStepChars;
    return truncateText(r, room);
  });
}
