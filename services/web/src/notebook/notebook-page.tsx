import type { EditorView } from '@codemirror/view';
import type { NotebookSummary } from '@quire/contracts';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { AgentPanel } from '../agent/agent-panel';
import { api } from '../api/gateway-client';
import { ComputePicker } from '../compute/compute-picker';
import { gpuWaitText } from '../compute/gpu-wait-text';
import type { StoredSession } from '../api/auth-store';
import type { KernelAssist } from '../kernel/kernel-assist';
import { KernelChannel, type KernelChannelState } from '../kernel/kernel-channel';
import { KernelStatusBar } from '../kernel/kernel-status-bar';
import { cellQueuePosition, queueMessage } from '../kernel/queue-message';
import { ShareDialog } from '../pages/share-dialog';
import { VersionHistory } from '../pages/version-history';
import { navigate } from '../ui/router';
import { CellView, initials } from './cell-view';
import { commandModeKey, type NotebookAction } from './command-keys';
import { NotebookConnection, type DocConnectionState, type PresenceUser } from './notebook-connection';
import { notebookSession } from './session-prefetch';
import {
  cellId,
  cellsOf,
  cellType,
  clearOutputs,
  createCell,
  deleteCells,
  editsUpTo,
  indexOfCell,
  insertCell,
  LOCAL_ORIGIN,
  mergeWithNext,
  moveCell,
  setCellType,
  splitCell,
} from './notebook-model';
import { useYValue } from './use-y';
import { badgeStyle } from '../ui/badge-colors';

/** The notebook editor: opens the document and the kernel channel, and maps keys to cell actions. */
export function NotebookPage({ notebookId, session }: { notebookId: string; session: StoredSession }) {
  const [conn, setConn] = useState<NotebookConnection | null>(null);
  const [openError, setOpenError] = useState<string | null>(null);

  useEffect(() => {
    let c: NotebookConnection | null = null;
    let cancelled = false;
    notebookSession(notebookId)
      .then((s) => {
        if (cancelled) return;
        performance.mark('quire:session');
        c = new NotebookConnection(notebookId, s);
        setConn(c);
      })
      .catch((e: Error) => !cancelled && setOpenError(e.message));
    return () => {
      cancelled = true;
      c?.destroy();
    };
  }, [notebookId]);

  if (openError)
    return (
      <main className="page-message" role="alert">
        <h1>Cannot open this notebook</h1>
        <p>{openError}</p>
        <button type="button" onClick={() => navigate('/')}>
          Back to notebooks
        </button>
      </main>
    );
  if (!conn)
    return (
      <main className="page-message" aria-busy="true">
        Opening notebook…
      </main>
    );
  return <NotebookEditor key={notebookId} conn={conn} session={session} />;
}

function NotebookEditor({ conn, session }: { conn: NotebookConnection; session: StoredSession }) {
  const notebookId = conn.notebookId;
  const [docState, setDocState] = useState<DocConnectionState>(conn.state);
  useEffect(() => conn.subscribe(setDocState), [conn]);

  const channel = useMemo(
    () => new KernelChannel(conn.kernelChannelUrl, () => session.token, conn.user.id),
    [conn, session.token],
  );
  useEffect(() => () => channel.close(), [channel]);
  const [kernel, setKernel] = useState<KernelChannelState>(channel.state);
  useEffect(() => channel.subscribe(setKernel), [channel]);

  const [summary, setSummary] = useState<NotebookSummary | null>(null);
  useEffect(() => {
    api.getNotebook(notebookId).then(setSummary, () => undefined);
  }, [notebookId]);

  const cellsArray = cellsOf(conn.doc);
  const cells = useYValue(cellsArray, () => cellsArray.toArray());
  // Progressive rendering: the first cells render at once (the first is editable
  // sooner), the rest follow in chunks on later frames.
  const [renderLimit, setRenderLimit] = useState(INITIAL_RENDER);
  useEffect(() => {
    if (renderLimit >= cells.length) return;
    const t = setTimeout(() => setRenderLimit((n) => n + RENDER_CHUNK), 0);
    return () => clearTimeout(t);
  }, [renderLimit, cells.length]);
  const [presence, setPresence] = useState<PresenceUser[]>([]);
  useEffect(() => {
    const update = () => setPresence(conn.presence());
    update();
    conn.provider.awareness.on('change', update);
    return () => conn.provider.awareness.off('change', update);
  }, [conn]);

  const role = kernel.role ?? conn.role;
  const readOnly = role === 'viewer' || role === 'runner';
  const canRun = role !== 'viewer';
  // Completions and docs from the live kernel: only for people who may run code (asking runs the kernel's completer).
  const assist = useMemo<KernelAssist | null>(
    () =>
      canRun
        ? {
            complete: async (code, cursorPos) => channel.ask({ type: 'complete', code, cursorPos }),
            inspect: async (code, cursorPos) => channel.ask({ type: 'inspect', code, cursorPos }),
          }
        : null,
    [channel, canRun],
  );

  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const pending = useRef<string | null>(null);
  const clipboard = useRef<{ type: ReturnType<typeof cellType>; source: string } | null>(null);
  const container = useRef<HTMLDivElement>(null);
  const [dialog, setDialog] = useState<'share' | 'history' | null>(null);
  const [agentOpen, setAgentOpen] = useState(false);
  const [offline, setOffline] = useState(typeof navigator !== 'undefined' && !navigator.onLine);
  useEffect(() => {
    const on = () => setOffline(false);
    const off = () => setOffline(true);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
    };
  }, []);

  // Select the first cell once there is one.
  useEffect(() => {
    if ((selectedId === null || indexOfCell(conn.doc, selectedId) < 0) && cells.length > 0)
      setSelectedId(cellId(cells[0]!));
  }, [cells, selectedId, conn.doc]);

  useEffect(() => conn.setActiveCell(selectedId), [conn, selectedId]);

  const select = useCallback((id: string, edit: boolean) => {
    setSelectedId(id);
    setEditing(edit);
  }, []);

  // Focus moves to the cell list at once (so the next key is a command), and
  // again after React re-rendered the cells (a new cell may have taken it).
  const focusCommandMode = () => {
    container.current?.focus({ preventScroll: true });
    requestAnimationFrame(() => {
      if (!document.activeElement?.closest('.cm-editor, input, textarea, select'))
        container.current?.focus({ preventScroll: true });
    });
  };

  const runCells = useCallback(
    (ids: string[]) => {
      const code = ids.filter((id) => {
        const i = indexOfCell(conn.doc, id);
        return i >= 0 && cellType(cellsOf(conn.doc).get(i)) === 'code';
      });
      if (code.length && canRun) channel.send({ type: 'run', cellIds: code, editsUpTo: editsUpTo(conn.doc) });
    },
    [conn, channel, canRun],
  );

  const act = useCallback(
    (id: string, action: NotebookAction, view?: EditorView) => {
      const doc = conn.doc;
      const i = indexOfCell(doc, id);
      const all = cellsOf(doc);
      const neighbour = (delta: number) => {
        const j = Math.min(all.length - 1, Math.max(0, i + delta));
        return all.length ? cellId(all.get(j)) : null;
      };
      const edits = !readOnly;
      switch (action) {
        case 'run':
          runCells([id]);
          setEditing(false);
          focusCommandMode();
          break;
        case 'run-advance':
        case 'run-insert': {
          runCells([id]);
          if (action === 'run-insert' || i === all.length - 1) {
            if (edits) {
              const created = insertCell(doc, i + 1, 'code');
              select(created, true);
              break;
            }
          }
          const next = neighbour(1);
          if (next) select(next, false);
          focusCommandMode();
          break;
        }
        case 'insert-above':
          if (edits) select(insertCell(doc, i, 'code'), false);
          focusCommandMode();
          break;
        case 'insert-below':
          if (edits) select(insertCell(doc, i + 1, 'code'), false);
          focusCommandMode();
          break;
        case 'delete': {
          if (!edits) break;
          const next = i + 1 < all.length ? neighbour(1) : neighbour(-1);
          deleteCells(doc, [id]);
          setSelectedId(next !== id ? next : all.length ? cellId(all.get(0)) : null);
          setEditing(false);
          focusCommandMode();
          break;
        }
        case 'to-markdown':
          if (edits) setCellType(doc, id, 'markdown');
          break;
        case 'to-code':
          if (edits) setCellType(doc, id, 'code');
          break;
        case 'to-raw':
          if (edits) setCellType(doc, id, 'raw');
          break;
        case 'undo':
          conn.undoManager.undo();
          break;
        case 'redo':
          conn.undoManager.redo();
          break;
        case 'edit':
          if (edits) setEditing(true);
          break;
        case 'command':
          setEditing(false);
          view?.contentDOM.blur();
          focusCommandMode();
          break;
        case 'select-up':
        case 'select-down': {
          const next = neighbour(action === 'select-up' ? -1 : 1);
          if (next) select(next, false);
          scrollToCell(next);
          break;
        }
        case 'move-up':
        case 'move-down':
          if (edits) moveCell(doc, id, action === 'move-up' ? -1 : 1);
          scrollToCell(id);
          break;
        case 'merge-below':
          if (edits) mergeWithNext(doc, id);
          break;
        case 'split': {
          if (!edits || !view) break;
          const created = splitCell(doc, id, view.state.selection.main.head);
          if (created) select(created, true);
          break;
        }
        case 'copy':
        case 'cut':
          clipboard.current =
            i >= 0 ? { type: cellType(all.get(i)), source: String(all.get(i).get('source') ?? '') } : null;
          if (action === 'cut' && edits) act(id, 'delete');
          break;
        case 'paste': {
          const src = clipboard.current;
          if (!src || !edits) break;
          const copy = createCell(src.type, src.source);
          doc.transact(() => all.insert(i + 1, [copy]), LOCAL_ORIGIN);
          select(cellId(copy), false);
          break;
        }
        case 'interrupt':
          channel.send({ type: 'interrupt' });
          break;
        case 'restart':
          if (confirm('Restart the kernel? Variables are lost; the notebook stays.'))
            channel.send({ type: 'restart' });
          break;
        case 'clear-outputs':
          if (edits) clearOutputs(doc, [id]);
          break;
      }
    },
    [conn, channel, readOnly, runCells, select],
  );

  // Command mode listens on the whole page: a key pressed while focus is on no
  // editable element (after Escape, a click on the background) still acts on cells.
  const keyState = useRef({ dialog, selectedId, act });
  keyState.current = { dialog, selectedId, act };
  useEffect(() => {
    const onKeyDown = (e: globalThis.KeyboardEvent) => {
      const st = keyState.current;
      // Focus in an editor means edit mode, whatever the state says (a click elsewhere blurs it).
      if (st.dialog || e.defaultPrevented) return;
      const target = e.target as HTMLElement | null;
      if (target?.closest?.('.cm-editor, input, textarea, select, button, a, [role="dialog"]')) return;
      const res = commandModeKey(e, pending.current);
      pending.current = res.pending;
      if (res.action && st.selectedId) {
        e.preventDefault();
        st.act(st.selectedId, res.action);
      }
    };
    document.addEventListener('keydown', onKeyDown);
    return () => document.removeEventListener('keydown', onKeyDown);
  }, []);

  const cellNumber = useCallback(
    (id: string) => {
      const i = indexOfCell(conn.doc, id);
      return i < 0 ? null : i + 1;
    },
    [conn.doc],
  );
  const queueText = queueMessage(kernel.queue, conn.user.id, cellNumber, kernel.status?.state);
  const others = uniqueUsers(presence).filter((u) => u.clientId !== conn.doc.clientID);
  const reconnecting = docState.status === 'reconnecting' || offline;
  const gpuWait = gpuWaitText(kernel.gpu);

  return (
    <div className={`notebook-page${agentOpen ? ' with-agent' : ''}`}>
      <header className="topbar">
        <a
          href="/"
          className="brand"
          onClick={(e) => (e.preventDefault(), navigate('/'))}
          aria-label="Quire — all notebooks"
        >
          Quire
        </a>
        <NotebookTitle summary={summary} readOnly={readOnly} onRename={setSummary} />
        <div className="presence" aria-label="People here">
          {uniqueUsers(presence).map((u) => (
            <span
              key={u.id}
              className="avatar"
              style={badgeStyle(u.color)}
              title={u.id === conn.user.id ? `${u.name} (you)` : u.name}
              data-user-name={u.name}
            >
              {initials(u.name)}
            </span>
          ))}
          <span className="sr-only">{others.length} other people here</span>
        </div>
        <div className="topbar-actions">
          <ComputePicker doc={conn.doc} readOnly={readOnly} />
          <button
            type="button"
            aria-expanded={agentOpen}
            aria-controls="agent-panel"
            onClick={() => setAgentOpen((o) => !o)}
          >
            Agent
          </button>
          <button type="button" onClick={() => setDialog('history')}>
            History
          </button>
          <button type="button" onClick={() => void exportIpynb(notebookId, summary?.title ?? 'notebook')}>
            Export
          </button>
          <button type="button" className="primary" onClick={() => setDialog('share')}>
            Share
          </button>
        </div>
      </header>
      <KernelStatusBar
        state={kernel}
        canRun={canRun}
        onRunAll={() => channel.send({ type: 'run_all', editsUpTo: editsUpTo(conn.doc) })}
        onInterrupt={() => channel.send({ type: 'interrupt' })}
        onRestart={() => channel.send({ type: 'restart' })}
        onForceTerminate={() => channel.send({ type: 'force_terminate' })}
      />
      {reconnecting && (
        <div className="banner warn" role="status" data-testid="reconnecting-banner">
          Reconnecting… your edits are kept on this device and merge when the connection is back.
        </div>
      )}
      {docState.refusal && (
        <div className={`banner ${docState.status === 'refused' ? 'error' : 'warn'}`} role="alert">
          {docState.refusal}
        </div>
      )}
      {readOnly && (
        <div className="banner info" role="status">
          {role === 'runner' ? 'You can run cells but not edit this notebook.' : 'View only.'}
        </div>
      )}
      {gpuWait && (
        <div
          className={`banner ${gpuWait.tone === 'error' ? 'error' : 'queue'}`}
          role="status"
          data-testid="gpu-wait"
        >
          {gpuWait.text}
          {gpuWait.restart && canRun && (
            <button
              type="button"
              className="small"
              onClick={() =>
                confirm('Restart the kernel on the new compute? Variables are lost; the notebook stays.') &&
                channel.send({ type: 'restart' })
              }
            >
              Restart kernel
            </button>
          )}
        </div>
      )}
      {queueText && (
        <div className="banner queue" role="status" data-testid="queue-message">
          {queueText}
        </div>
      )}
      {kernel.lastError && (
        <div className="banner error" role="alert">
          {kernel.lastError.message}
        </div>
      )}
      <div
        className="cells"
        ref={container}
        tabIndex={0}
        role="region"
        aria-label="Notebook cells (command mode: arrows to move, Enter to edit, Shift-Enter to run)"
        data-ready={docState.ready ? 'true' : 'false'}
      >
        {!docState.ready && cells.length === 0 && <p className="page-message">Loading the notebook…</p>}
        <div role="list" aria-label="Cells">
          {cells.slice(0, Math.max(renderLimit, selectedIndex(cells, selectedId) + 1)).map((cell, index) => {
            const id = cellId(cell);
            const request = kernel.inputRequests.find((r) => r.cellId === id) ?? null;
            return (
              <CellView
                key={id || index}
                cell={cell}
                index={index}
                selected={id === selectedId}
                editing={editing && id === selectedId}
                readOnly={readOnly}
                canRun={canRun}
                assist={assist}
                awareness={conn.provider.awareness}
                undoManager={conn.undoManager}
                queuePosition={cellQueuePosition(kernel.queue, id)}
                here={presence.filter((u) => u.cellId === id && u.clientId !== conn.doc.clientID)}
                inputRequest={request}
                onSelect={select}
                onAction={act}
                onInputReply={(executionId, value) =>
                  channel.send({ type: 'input_reply', executionId, value })
                }
              />
            );
          })}
        </div>
        {!readOnly && docState.ready && (
          <div className="add-cells">
            <button type="button" onClick={() => select(insertCell(conn.doc, cells.length, 'code'), true)}>
              + Code
            </button>
            <button
              type="button"
              onClick={() => select(insertCell(conn.doc, cells.length, 'markdown'), true)}
            >
              + Markdown
            </button>
          </div>
        )}
      </div>
      {agentOpen && (
        <div id="agent-panel">
          <AgentPanel
            notebookId={notebookId}
            canControl={!readOnly}
            cellLabel={(id) => {
              const n = cellNumber(id);
              return n === null ? 'not in the notebook' : `cell ${n}`;
            }}
            onClose={() => setAgentOpen(false)}
          />
        </div>
      )}
      {dialog === 'share' && <ShareDialog notebookId={notebookId} onClose={() => setDialog(null)} />}
      {dialog === 'history' && (
        <VersionHistory notebookId={notebookId} canRestore={!readOnly} onClose={() => setDialog(null)} />
      )}
    </div>
  );
}

function NotebookTitle({
  summary,
  readOnly,
  onRename,
}: {
  summary: NotebookSummary | null;
  readOnly: boolean;
  onRename: (s: NotebookSummary) => void;
}) {
  const [title, setTitle] = useState(summary?.title ?? '');
  useEffect(() => setTitle(summary?.title ?? ''), [summary?.title]);
  if (!summary) return <span className="nb-title" />;
  const commit = () => {
    const t = title.trim();
    if (!t || t === summary.title) return setTitle(summary.title);
    api.renameNotebook(summary.id, t).then(onRename, () => setTitle(summary.title));
  };
  return (
    <input
      className="nb-title"
      aria-label="Notebook title"
      value={title}
      readOnly={readOnly}
      onChange={(e) => setTitle(e.target.value)}
      onBlur={commit}
      onKeyDown={(e) => e.key === 'Enter' && (e.currentTarget as HTMLInputElement).blur()}
    />
  );
}

const INITIAL_RENDER = 30;
const RENDER_CHUNK = 60;

function selectedIndex(cells: readonly { get(key: string): unknown }[], id: string | null): number {
  return id === null ? -1 : cells.findIndex((c) => c.get('id') === id);
}

function uniqueUsers(users: PresenceUser[]): PresenceUser[] {
  const seen = new Map<string, PresenceUser>();
  for (const u of users) if (!seen.has(u.id)) seen.set(u.id, u);
  return [...seen.values()];
}

function scrollToCell(id: string | null) {
  if (!id) return;
  document.querySelector(`[data-cell-id="${CSS.escape(id)}"]`)?.scrollIntoView({ block: 'nearest' });
}

export async function exportIpynb(notebookId: string, title: string): Promise<void> {
  const blob = await api.exportNotebook(notebookId);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${title.replace(/[^\w.-]+/g, '_') || 'notebook'}.ipynb`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
