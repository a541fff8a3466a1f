import {
  acceptCompletion,
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
  type CompletionContext,
} from '@codemirror/autocomplete';
import { defaultKeymap, indentWithTab } from '@codemirror/commands';
import { globalCompletion, localCompletionSource, python } from '@codemirror/lang-python';
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  syntaxHighlighting,
} from '@codemirror/language';
import { Compartment, EditorState, Prec } from '@codemirror/state';
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightSpecialChars,
  hoverTooltip,
  keymap,
  placeholder,
} from '@codemirror/view';
import { useEffect, useRef } from 'react';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import type { Awareness } from 'y-protocols/awareness';
import type * as Y from 'yjs';
import { kernelCompletionSource, kernelHoverSource, type KernelAssist } from '../kernel/kernel-assist';
import { editModeKey, type NotebookAction } from './command-keys';

/**
 * One cell's CodeMirror 6 editor bound to the cell's source Y.Text: typing is
 * a Yjs edit (y-codemirror.next), remote cursors show with names and colours
 * (awareness), and undo goes through the notebook's shared undo manager, which
 * tracks only this tab's edits.
 */
export interface CodeEditorProps {
  text: Y.Text;
  awareness: Awareness;
  undoManager: Y.UndoManager;
  language: 'python' | 'markdown' | 'plain';
  readOnly: boolean;
  autoFocus: boolean;
  label: string;
  onAction: (action: NotebookAction, view: EditorView) => void;
  onFocus: () => void;
  /** The live kernel's completions and docs (code cells of people who may run them); null: none. */
  assist?: KernelAssist | null;
}

/**
 * Completion keys: Tab accepts (Enter stays a newline, so typing on after `.`
 * never swallows a line break); arrows, Page keys and Escape as CodeMirror's.
 */
const COMPLETION_KEYS = [
  { key: 'Tab', run: acceptCompletion },
  ...completionKeymap.filter((k) => k.key !== 'Enter'),
];

export function CodeEditor(props: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const viewRef = useRef<EditorView | null>(null);
  // The latest callbacks without rebuilding the editor on every render.
  const latest = useRef(props);
  latest.current = props;

  useEffect(() => {
    const notebookKeys = Prec.highest(
      keymap.of(
        (['Escape', 'Shift-Enter', 'Mod-Enter', 'Alt-Enter', 'Mod-Shift--'] as const).map((key) => ({
          key,
          run: (view: EditorView) => {
            const [mods, k] = splitKey(key);
            const action = editModeKey({
              key: k,
              shiftKey: mods.includes('Shift'),
              ctrlKey: mods.includes('Mod'),
              metaKey: false,
              altKey: mods.includes('Alt'),
            });
            if (!action) return false;
            latest.current.onAction(action, view);
            return true;
          },
        })),
      ),
    );
    // Markdown support (with HTML, JavaScript and CSS inside it) is a separate
    // chunk, loaded when a markdown cell is first edited: most opens never need it.
    const lang = new Compartment();
    const assist = () => (latest.current.language === 'python' ? (latest.current.assist ?? null) : null);
    const kernelCompletion = kernelCompletionSource(assist);
    const kernelHover = kernelHoverSource(assist);
    const view = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: props.text.toString(),
        extensions: [
          notebookKeys,
          highlightSpecialChars(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          closeBrackets(),
          autocompletion({
            activateOnTyping: true,
            override: [
              async (ctx: CompletionContext) => {
                // The kernel after `.` / `["` or on Ctrl-Space; the code's own names on Ctrl-Space.
                const live = await kernelCompletion(ctx);
                if (live || !ctx.explicit || props.language !== 'python') return live;
                return localCompletionSource(ctx) ?? globalCompletion(ctx);
              },
            ],
          }),
          hoverTooltip(kernelHover, { hoverTime: 500 }),
          highlightActiveLine(),
          syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
          keymap.of([
            ...yUndoManagerKeymap,
            ...closeBracketsKeymap,
            ...COMPLETION_KEYS,
            indentWithTab,
            ...defaultKeymap,
          ]),
          lang.of(props.language === 'python' ? python() : []),
          placeholder(props.language === 'markdown' ? 'Markdown' : ''),
          EditorState.readOnly.of(props.readOnly),
          EditorView.editable.of(!props.readOnly),
          EditorView.contentAttributes.of({ 'aria-label': props.label }),
          EditorView.domEventHandlers({ focus: () => latest.current.onFocus() }),
          EditorView.lineWrapping,
          yCollab(props.text, props.awareness, { undoManager: props.undoManager }),
        ],
      }),
    });
    viewRef.current = view;
    if (props.autoFocus) view.focus();
    let destroyed = false;
    if (props.language === 'markdown')
      void loadMarkdown().then(
        (ext) => !destroyed && view.dispatch({ effects: lang.reconfigure(ext) }),
        () => undefined, // offline after the app loaded: the cell stays editable, without highlighting
      );
    return () => {
      destroyed = true;
      view.destroy();
      viewRef.current = null;
    };
    // The editor is rebuilt only when what it is bound to changes.
  }, [props.text, props.awareness, props.undoManager, props.language, props.readOnly]);

  useEffect(() => {
    if (props.autoFocus && viewRef.current && !viewRef.current.hasFocus) viewRef.current.focus();
  }, [props.autoFocus]);

  return <div className="cm-host" ref={host} />;
}

let markdownSupport: Promise<import('@codemirror/state').Extension> | null = null;
function loadMarkdown() {
  markdownSupport ??= import('@codemirror/lang-markdown').then((m) => m.markdown());
  markdownSupport.catch(() => (markdownSupport = null));
  return markdownSupport;
}

function splitKey(key: string): [string[], string] {
  if (key.endsWith('--')) return [key.slice(0, -2).split('-'), '-'];
  const parts = key.split('-');
  return [parts.slice(0, -1), parts[parts.length - 1]!];
}
