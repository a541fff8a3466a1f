import type { AgentChangeDto, AgentRunDto, AgentRunMode } from '@quire/contracts';
import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import { agentApi, watchAgentRun } from './agent-client';
import {
  applyAgentEvent,
  EMPTY_RUN,
  formatDuration,
  isRunActive,
  liveFromRun,
  pendingChanges,
  runStatusText,
  runTotals,
  type AgentRunLive,
} from './agent-run-view';

/** How often the panel looks for runs started by someone else while it watches none. */
const LIST_POLL_MS = 5000;

const CHANGE_KINDS: Record<AgentChangeDto['kind'], string> = {
  insert_cell: 'New cell',
  edit_cell: 'Edit cell',
  delete_cell: 'Delete cell',
  run_cell: 'Run cell',
};

/**
 * The Agent panel: a goal, a mode (review / auto), dry run; the live steps of
 * the notebook's latest run (or one picked from the list) from its event
 * stream, with accept / reject of pending changes, Stop, Undo run and the
 * run's totals. Every collaborator with the panel open watches the same
 * stream; only editors and owners get the controls.
 */
export function AgentPanel({
  notebookId,
  canControl,
  cellLabel,
  onClose,
}: {
  notebookId: string;
  /** Editors and owners: start, stop, review, undo. */
  canControl: boolean;
  /** "cell 3" for a cell id, when the cell is in the document. */
  cellLabel: (cellId: string) => string;
  onClose: () => void;
}) {
  const [runs, setRuns] = useState<AgentRunDto[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [live, setLive] = useState<AgentRunLive>(EMPTY_RUN);
  const [connected, setConnected] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const loadRuns = useCallback(async () => {
    try {
      const { runs: list } = await agentApi.list(notebookId);
      setRuns(list);
      setError(null);
      setSelected((cur) => {
        // Follow a newer run as soon as one starts (someone else's too), unless one is being watched.
        const newest = list[0]?.runId ?? null;
        if (!cur) return newest;
        const curRun = list.find((r) => r.runId === cur);
        return curRun && isRunActive(curRun) ? cur : newest && isRunActive(list[0]!) ? newest : cur;
      });
    } catch (e) {
      setError((e as Error).message);
    }
  }, [notebookId]);

  useEffect(() => {
    void loadRuns();
  }, [loadRuns]);

  const selectedRun = runs?.find((r) => r.runId === selected) ?? null;
  const watching = isRunActive(live.run) && live.run?.runId === selected;

  // Poll for new runs only while no active run is being streamed.
  useEffect(() => {
    if (watching) return;
    const t = setInterval(() => void loadRuns(), LIST_POLL_MS);
    return () => clearInterval(t);
  }, [watching, loadRuns]);

  // The selected run: its stream while active, else what the list says.
  const selectedActive = !!selectedRun && isRunActive(selectedRun);
  useEffect(() => {
    if (!selected) {
      setLive(EMPTY_RUN);
      return;
    }
    const initial = runs?.find((r) => r.runId === selected);
    setLive(initial ? liveFromRun(initial) : EMPTY_RUN);
    if (initial && !isRunActive(initial)) return;
    setConnected(true);
    const stop = watchAgentRun(notebookId, selected, {
      onEvent: (ev) => setLive((s) => applyAgentEvent(s, ev)),
      onConnection: setConnected,
    });
    return stop;
    // `runs` only seeds the view (deliberately not a dependency): the stream is per selected run.
  }, [notebookId, selected, selectedActive]);

  // When the stream says the run ended, the list catches up (status, totals).
  useEffect(() => {
    if (live.finished) void loadRuns();
  }, [live.finished, loadRuns]);

  const act = async (fn: () => Promise<AgentRunDto>) => {
    setBusy(true);
    setError(null);
    try {
      const run = await fn();
      setLive((s) => applyAgentEvent(s, { type: 'run', run }));
      setRuns((list) => list?.map((r) => (r.runId === run.runId ? run : r)) ?? list);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const started = async (run: AgentRunDto) => {
    setRuns((list) => [run, ...(list ?? []).filter((r) => r.runId !== run.runId)]);
    setSelected(run.runId);
  };

  return (
    <aside className="agent-panel" aria-labelledby="agent-panel-title" data-testid="agent-panel">
      <header className="agent-panel-head">
        <h2 id="agent-panel-title">Agent</h2>
        <button type="button" className="small" onClick={onClose} aria-label="Close the Agent panel">
          Close
        </button>
      </header>
      {canControl ? (
        <StartForm notebookId={notebookId} disabled={watching} onStarted={started} onError={setError} />
      ) : (
        <p className="muted">You can watch agent runs here; editors and owners start them.</p>
      )}
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {runs && runs.length > 1 && (
        <label className="agent-run-picker">
          <span>Run</span>
          <select value={selected ?? ''} onChange={(e) => setSelected(e.target.value || null)}>
            {runs.map((r) => (
              <option key={r.runId} value={r.runId}>
                {truncate(r.goal, 40)} — {r.userName} · {new Date(r.startedAt).toLocaleTimeString()}
              </option>
            ))}
          </select>
        </label>
      )}
      {runs && runs.length === 0 && <p className="muted">No agent runs in this notebook yet.</p>}
      {live.run && (
        <RunView
          live={live}
          connected={connected}
          canControl={canControl}
          busy={busy}
          cellLabel={cellLabel}
          onStop={() => void act(() => agentApi.stop(notebookId, live.run!.runId))}
          onUndo={() =>
            confirm('Undo everything this run changed in the notebook?') &&
            void act(() => agentApi.undo(notebookId, live.run!.runId))
          }
          onReview={(decision, changeIds) =>
            void act(() =>
              agentApi.review(
                notebookId,
                live.run!.runId,
                changeIds ? { decision, changeIds } : { decision },
              ),
            )
          }
        />
      )}
    </aside>
  );
}

function StartForm({
  notebookId,
  disabled,
  onStarted,
  onError,
}: {
  notebookId: string;
  disabled: boolean;
  onStarted: (run: AgentRunDto) => void;
  onError: (message: string) => void;
}) {
  const [goal, setGoal] = useState('');
  const [mode, setMode] = useState<AgentRunMode>('review');
  const [dryRun, setDryRun] = useState(false);
  const [sending, setSending] = useState(false);
  const ids = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!goal.trim()) return onError('Say what the agent should do first.');
    setSending(true);
    try {
      onStarted(await agentApi.start(notebookId, { goal: goal.trim(), mode, dryRun }));
      setGoal('');
    } catch (err) {
      onError((err as Error).message);
    } finally {
      setSending(false);
    }
  }

  return (
    <form className="agent-start" onSubmit={(e) => void submit(e)} aria-label="Start an agent run">
      <label htmlFor={`${ids}-goal`}>Goal</label>
      <textarea
        id={`${ids}-goal`}
        value={goal}
        rows={3}
        placeholder="e.g. load sales.csv from my volume and find the anomalies"
        onChange={(e) => setGoal(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) void submit(e);
        }}
      />
      <fieldset className="agent-mode">
        <legend>Mode</legend>
        <label>
          <input
            type="radio"
            name={`${ids}-mode`}
            value="review"
            checked={mode === 'review'}
            onChange={() => setMode('review')}
          />
          Review <span className="muted">— each change waits for you</span>
        </label>
        <label>
          <input
            type="radio"
            name={`${ids}-mode`}
            value="auto"
            checked={mode === 'auto'}
            onChange={() => setMode('auto')}
          />
          Auto <span className="muted">— the agent edits and runs cells itself</span>
        </label>
      </fieldset>
      <label className="agent-dry-run">
        <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} />
        Dry run <span className="muted">— try each step in a forked kernel first</span>
      </label>
      <button type="submit" className="primary" disabled={disabled || sending}>
        {sending ? 'Starting…' : 'Start agent'}
      </button>
      {disabled && <p className="muted">A run is in progress; stop it or wait for it to finish.</p>}
    </form>
  );
}

function RunView({
  live,
  connected,
  canControl,
  busy,
  cellLabel,
  onStop,
  onUndo,
  onReview,
}: {
  live: AgentRunLive;
  connected: boolean;
  canControl: boolean;
  busy: boolean;
  cellLabel: (cellId: string) => string;
  onStop: () => void;
  onUndo: () => void;
  onReview: (decision: 'accept' | 'reject', changeIds?: string[]) => void;
}) {
  const run = live.run!;
  const totals = runTotals(live);
  const pending = pendingChanges(run);
  const active = isRunActive(run);
  return (
    <section className="agent-run" aria-label={`Agent run: ${run.goal}`} data-run-id={run.runId}>
      <p className="agent-goal">
        <strong>{run.goal}</strong>
        <span className="muted">
          {' '}
          — for {run.userName}, {run.mode} mode{run.dryRun ? ', dry run' : ''}
        </span>
      </p>
      <p
        className="agent-status"
        role="status"
        aria-live="polite"
        data-testid="agent-status"
        data-status={run.status}
      >
        {runStatusText(live)}
        {!connected && active && <span className="muted"> (reconnecting…)</span>}
      </p>
      {run.summary && <p className="agent-summary">{run.summary}</p>}
      <dl className="agent-totals" aria-label="Run totals" data-testid="agent-totals">
        <div>
          <dt>Steps</dt>
          <dd>
            {totals.steps} / {run.budget.maxSteps}
          </dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>{totals.tokens.toLocaleString()}</dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>
            {totals.cost} / {run.budget.maxCost}
          </dd>
        </div>
        <div>
          <dt>Time</dt>
          <dd>{formatDuration(totals.wallMs)}</dd>
        </div>
      </dl>
      {canControl && (
        <div className="agent-controls">
          {active && (
            <button type="button" className="danger" onClick={onStop} disabled={busy}>
              Stop
            </button>
          )}
          {!active &&
            !run.undone &&
            run.changes.some((c) => c.status === 'applied' || c.status === 'accepted') && (
              <button type="button" onClick={onUndo} disabled={busy}>
                Undo run
              </button>
            )}
        </div>
      )}
      {pending.length > 0 && (
        <div className="agent-review">
          <h3 id={`pending-${run.runId}`}>Pending changes ({pending.length})</h3>
          {canControl && pending.length > 1 && (
            <div className="agent-controls">
              <button
                type="button"
                className="primary small"
                disabled={busy}
                onClick={() => onReview('accept')}
              >
                Accept all
              </button>
              <button type="button" className="small" disabled={busy} onClick={() => onReview('reject')}>
                Reject all
              </button>
            </div>
          )}
          <ul aria-labelledby={`pending-${run.runId}`}>
            {pending.map((c, i) => {
              const name = `${CHANGE_KINDS[c.kind]} (${cellLabel(c.cellId)})`;
              return (
                <li key={c.changeId} data-change-id={c.changeId}>
                  <span className="agent-change-kind">{name}</span>
                  {c.source !== null && (
                    <pre className="agent-code" aria-label={`Proposed code, change ${i + 1}`}>
                      <code>{c.source}</code>
                    </pre>
                  )}
                  {canControl && (
                    <span className="agent-controls">
                      <button
                        type="button"
                        className="primary small"
                        disabled={busy}
                        aria-label={`Accept change ${i + 1}: ${name}`}
                        onClick={() => onReview('accept', [c.changeId])}
                      >
                        Accept
                      </button>
                      <button
                        type="button"
                        className="small"
                        disabled={busy}
                        aria-label={`Reject change ${i + 1}: ${name}`}
                        onClick={() => onReview('reject', [c.changeId])}
                      >
                        Reject
                      </button>
                    </span>
                  )}
                </li>
              );
            })}
          </ul>
        </div>
      )}
      <h3 id={`steps-${run.runId}`}>Steps</h3>
      <ol className="agent-steps" aria-labelledby={`steps-${run.runId}`} data-testid="agent-steps">
        {live.steps.map((s) => (
          <li key={s.step} data-step={s.step}>
            <p className="agent-step-head">
              <span className="agent-step-no">Step {s.step}</span> {s.summary}
              {s.dryRun && <span className="badge">dry run</span>}
            </p>
            {s.code && (
              <pre className="agent-code" aria-label={`Code of step ${s.step}`}>
                <code>{s.code}</code>
              </pre>
            )}
            {s.outputSummary && (
              <pre className="agent-output" aria-label={`Output of step ${s.step}`}>
                {s.outputSummary}
              </pre>
            )}
            <p className="agent-step-meta muted">
              {(s.tokens.prompt + s.tokens.completion).toLocaleString()} tokens · cost {s.cost}
              {s.execMs > 0 ? ` · ran ${formatDuration(s.execMs)}` : ''}
              {s.cellId ? ` · ${cellLabel(s.cellId)}` : ''}
            </p>
          </li>
        ))}
        {live.streaming && (
          <li className="agent-streaming" data-step={live.streaming.step} aria-busy="true">
            <p className="agent-step-head">
              <span className="agent-step-no">Step {live.streaming.step}</span> thinking…
            </p>
            <p className="agent-stream-text">{live.streaming.text}</p>
          </li>
        )}
      </ol>
    </section>
  );
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
