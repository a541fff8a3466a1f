import type { EditorView } from '@codemirror/view';
import { memo, useEffect, useRef, useState } from 'react';
import type { Awareness } from 'y-protocols/awareness';
import type * as Y from 'yjs';
import type { PresenceUser } from './notebook-connection';
import { markdownToSafeHtml } from '../outputs/sanitize';
import { OutputArea } from '../outputs/output-area';
import type { KernelAssist } from '../kernel/kernel-assist';
import { CodeEditor } from './code-editor';
import type { NotebookAction } from './command-keys';
import {
  cellId,
  cellOutputs,
  cellSource,
  cellType,
  executionCount,
  executionInfo,
  type CellMap,
} from './notebook-model';
import { useYValue } from './use-y';
import { badgeStyle } from '../ui/badge-colors';

export interface CellViewProps {
  cell: CellMap;
  index: number;
  selected: boolean;
  editing: boolean;
  readOnly: boolean;
  canRun: boolean;
  awareness: Awareness;
  undoManager: Y.UndoManager;
  queuePosition: number | null;
  here: PresenceUser[];
  inputRequest: { executionId: string; prompt: string; password: boolean } | null;
  onSelect: (id: string, edit: boolean) => void;
  onAction: (id: string, action: NotebookAction, view?: EditorView) => void;
  onInputReply: (executionId: string, value: string) => void;
  /** The live kernel's completions and docs for code cells (people who may run them). */
  assist?: KernelAssist | null;
}

/** One cell: prompt, editor (or rendered markdown), attribution, outputs. */
export const CellView = memo(function CellView(props: CellViewProps) {
  const { cell, index, selected, editing } = props;
  const id = cellId(cell);
  const type = useYValue(cell, () => cellType(cell));
  const count = useYValue(cell, () => executionCount(cell));
  const info = useYValue(cell, () => executionInfo(cell));
  const outputs = useYValue(cell, () => cellOutputs(cell));
  const text = cellSource(cell);
  const source = useYValue(text, () => text.toString());
  const visible = useNearViewport(index < 8);

  const showMarkdown = type === 'markdown' && !editing && source.trim() !== '';
  const mountEditor = !showMarkdown && (visible.near || selected);
  const running = props.queuePosition === 0 || info?.status === 'running';
  const queued = !running && (props.queuePosition !== null || info?.status === 'queued');
  const prompt = type !== 'code' ? '' : running ? '[*]' : queued ? '[…]' : `[${count ?? ' '}]`;

  return (
    <section
      ref={visible.ref}
      className={`cell cell-${type}${selected ? ' selected' : ''}${editing ? ' editing' : ''}`}
      data-cell-id={id}
      data-cell-index={index + 1}
      role="listitem"
      aria-label={`Cell ${index + 1}, ${type}${selected ? ', selected' : ''}`}
      onMouseDown={() => !selected && props.onSelect(id, false)}
    >
      <div className="cell-gutter">
        <span className="prompt" aria-label={running ? 'running' : queued ? 'queued' : undefined}>
          {prompt}
        </span>
        {props.here.map((u) => (
          <span
            key={u.clientId}
            className="cell-presence"
            style={badgeStyle(u.color)}
            title={`${u.name} is here`}
          >
            {initials(u.name)}
          </span>
        ))}
      </div>
      <div className="cell-body">
        {showMarkdown && !visible.near ? (
          // Far from the viewport: the source as text until it is rendered (opening stays fast).
          <pre className="cm-static markdown-source">{source}</pre>
        ) : showMarkdown ? (
          <div
            className="markdown rendered"
            onDoubleClick={() => !props.readOnly && props.onSelect(id, true)}
            dangerouslySetInnerHTML={{ __html: markdownToSafeHtml(source) }}
          />
        ) : mountEditor ? (
          <CodeEditor
            text={text}
            awareness={props.awareness}
            undoManager={props.undoManager}
            language={type === 'code' ? 'python' : type === 'markdown' ? 'markdown' : 'plain'}
            readOnly={props.readOnly}
            autoFocus={editing}
            label={`Cell ${index + 1} source`}
            onFocus={() => props.onSelect(id, true)}
            onAction={(action, view) => props.onAction(id, action, view)}
            assist={type === 'code' ? (props.assist ?? null) : null}
          />
        ) : (
          <pre className="cm-static">{source || ' '}</pre>
        )}
        {info && type === 'code' && <Attribution info={info} />}
        {props.inputRequest && (
          <InputPrompt
            request={props.inputRequest}
            onReply={(v) => props.onInputReply(props.inputRequest!.executionId, v)}
          />
        )}
        {outputs && type === 'code' && <OutputArea outputs={outputs} />}
      </div>
      {selected && !props.readOnly && (
        <div className="cell-toolbar" role="toolbar" aria-label={`Cell ${index + 1} actions`}>
          {type === 'code' && props.canRun && (
            <button
              type="button"
              title="Run (Shift-Enter)"
              aria-label="Run cell"
              onClick={() => props.onAction(id, 'run')}
            >
              ▶
            </button>
          )}
          <button
            type="button"
            title="Move up"
            aria-label="Move cell up"
            onClick={() => props.onAction(id, 'move-up')}
          >
            ↑
          </button>
          <button
            type="button"
            title="Move down"
            aria-label="Move cell down"
            onClick={() => props.onAction(id, 'move-down')}
          >
            ↓
          </button>
          <button
            type="button"
            title="Merge with the cell below (Shift-M)"
            aria-label="Merge with cell below"
            onClick={() => props.onAction(id, 'merge-below')}
          >
            ⇊
          </button>
          <select
            aria-label="Cell type"
            value={type}
            onChange={(e) =>
              props.onAction(
                id,
                e.target.value === 'markdown'
                  ? 'to-markdown'
                  : e.target.value === 'raw'
                    ? 'to-raw'
                    : 'to-code',
              )
            }
          >
            <option value="code">Code</option>
            <option value="markdown">Markdown</option>
            <option value="raw">Raw</option>
          </select>
          <button
            type="button"
            title="Delete (D D)"
            aria-label="Delete cell"
            onClick={() => props.onAction(id, 'delete')}
          >
            ✕
          </button>
        </div>
      )}
    </section>
  );
});

function Attribution({ info }: { info: NonNullable<ReturnType<typeof executionInfo>> }) {
  const when = info.finishedAt ?? info.startedAt ?? info.queuedAt;
  const time = when ? new Date(when).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
  const label: Record<typeof info.status, string> = {
    queued: `Queued by ${info.userName}`,
    running: `Running — started by ${info.userName}`,
    ok: `Run by ${info.userName}`,
    error: `Run by ${info.userName} — error`,
    interrupted: `Run by ${info.userName} — interrupted`,
    kernel_died: `Run by ${info.userName} — the kernel died`,
    aborted: `Run by ${info.userName} — aborted`,
  };
  return (
    <div className={`attribution status-${info.status}`} data-testid="executed-by">
      {label[info.status]}
      {info.ms !== null && info.status !== 'running' ? ` · ${formatMs(info.ms)}` : ''}
      {time ? ` · ${time}` : ''}
    </div>
  );
}

function InputPrompt({
  request,
  onReply,
}: {
  request: { prompt: string; password: boolean };
  onReply: (value: string) => void;
}) {
  const [value, setValue] = useState('');
  return (
    <form
      className="input-request"
      onSubmit={(e) => {
        e.preventDefault();
        onReply(value);
      }}
    >
      <label>
        {request.prompt || 'Input:'}{' '}
        <input
          autoFocus
          type={request.password ? 'password' : 'text'}
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
      </label>
    </form>
  );
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/);
  return (
    (parts[0]?.[0] ?? '?') + (parts.length > 1 ? (parts[parts.length - 1]?.[0] ?? '') : '')
  ).toUpperCase();
}

/**
 * Editors mount when their cell comes near the viewport: a 200-cell notebook
 * opens with a handful of CodeMirror instances instead of 200. Once mounted, a
 * cell keeps its editor.
 */
function useNearViewport(initial: boolean): { near: boolean; ref: (el: HTMLElement | null) => void } {
  const [near, setNear] = useState(initial);
  const observer = useRef<IntersectionObserver | null>(null);
  const ref = (el: HTMLElement | null) => {
    observer.current?.disconnect();
    if (!el || near) return;
    observer.current = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) {
          setNear(true);
          observer.current?.disconnect();
        }
      },
      { rootMargin: '800px 0px' },
    );
    observer.current.observe(el);
  };
  useEffect(() => () => observer.current?.disconnect(), []);
  return { near, ref };
}
