import type {
  Completion,
  CompletionContext,
  CompletionResult,
  CompletionSource,
} from '@codemirror/autocomplete';
import type { EditorView, Tooltip } from '@codemirror/view';

/**
 * Completions and documentation from the notebook's live kernel, for the
 * cell editor: the kernel knows what the code has made (a DataFrame's
 * columns after `df["`, a module's functions after `np.`). Positions: the
 * Jupyter protocol counts cursor positions in Unicode code points,
 * CodeMirror in UTF-16 units; both are converted here.
 */
export interface KernelAssist {
  complete(
    code: string,
    cursorPos: number,
  ): Promise<{ matches: string[]; cursorStart: number; cursorEnd: number; types: (string | null)[] | null }>;
  inspect(code: string, cursorPos: number): Promise<{ found: boolean; text: string }>;
}

/** UTF-16 offset → code-point offset. */
export function toCodePoints(text: string, utf16: number): number {
  return [...text.slice(0, utf16)].length;
}

/** Code-point offset → UTF-16 offset. */
export function toUtf16(text: string, codePoints: number): number {
  let units = 0;
  let n = 0;
  for (const ch of text) {
    if (n++ >= codePoints) break;
    units += ch.length;
  }
  return units;
}

const TYPE_MAP: Record<string, Completion['type']> = {
  function: 'function',
  builtin_function_or_method: 'function',
  method: 'method',
  class: 'class',
  type: 'class',
  module: 'namespace',
  instance: 'variable',
  statement: 'variable',
  keyword: 'keyword',
  param: 'variable',
  property: 'property',
  path: 'text',
};

/** Asks only where a completion is likely wanted: Ctrl-Space, after `.`, or inside `["…`. */
const TRIGGER = /(\.\w*|\[["'][^"'\]]*)$/;

export function kernelCompletionSource(assist: () => KernelAssist | null): CompletionSource {
  return async (ctx: CompletionContext): Promise<CompletionResult | null> => {
    const kernel = assist();
    if (!kernel) return null;
    const before = ctx.state.sliceDoc(Math.max(0, ctx.pos - 200), ctx.pos);
    if (!ctx.explicit && !TRIGGER.test(before)) return null;
    const code = ctx.state.doc.toString();
    let reply;
    try {
      reply = await kernel.complete(code, toCodePoints(code, ctx.pos));
    } catch {
      return null; // no kernel running, or it is busy: no popup rather than an error while typing
    }
    if (ctx.aborted || reply.matches.length === 0) return null;
    const from = toUtf16(code, reply.cursorStart);
    const to = toUtf16(code, reply.cursorEnd);
    return {
      from,
      to,
      options: reply.matches.map((label, i) => {
        const t = reply.types?.[i];
        const type = t ? TYPE_MAP[t] : undefined;
        return type ? { label, type } : { label };
      }),
      // IPython's completer may start the range at the dot (`.region`).
      validFor: /^\.?\w*$/,
    };
  };
}

/** Documentation of the name under the mouse, from the kernel (`len` → its docstring). */
export function kernelHoverSource(assist: () => KernelAssist | null) {
  return async (view: EditorView, pos: number): Promise<Tooltip | null> => {
    const kernel = assist();
    if (!kernel) return null;
    const word = view.state.wordAt(pos);
    if (!word) return null;
    const code = view.state.doc.toString();
    let reply;
    try {
      reply = await kernel.inspect(code, toCodePoints(code, word.to));
    } catch {
      return null;
    }
    if (!reply.found) return null;
    const text = reply.text.length > 4000 ? `${reply.text.slice(0, 4000)}…` : reply.text;
    return {
      pos: word.from,
      end: word.to,
      above: true,
      create: () => {
        const dom = document.createElement('pre');
        dom.className = 'kernel-doc';
        dom.setAttribute('role', 'tooltip');
        dom.textContent = text;
        return { dom };
      },
    };
  };
}
