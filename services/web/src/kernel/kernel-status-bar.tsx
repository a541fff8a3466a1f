import type { KernelChannelState } from './kernel-channel';
import { kernelStatusText, memoryGauge } from './kernel-status-text';

/** Always visible: what the kernel is doing, its memory, and the controls. */
export function KernelStatusBar({
  state,
  canRun,
  onRunAll,
  onInterrupt,
  onRestart,
  onForceTerminate,
}: {
  state: KernelChannelState;
  canRun: boolean;
  onRunAll: () => void;
  onInterrupt: () => void;
  onRestart: () => void;
  onForceTerminate: () => void;
}) {
  const text = kernelStatusText(state.status, state.connected);
  const gauge = memoryGauge(state.memory);
  const live =
    state.status &&
    state.status.state !== 'none' &&
    state.status.state !== 'dead' &&
    state.status.state !== 'hibernated';
  return (
    <div
      className={`kernel-bar tone-${text.tone}`}
      role="status"
      aria-live="polite"
      data-testid="kernel-status"
      data-state={state.status?.state ?? 'unknown'}
    >
      <span className="kernel-dot" aria-hidden="true" />
      <span className="kernel-label">{text.label}</span>
      {text.detail && <span className="kernel-detail">{text.detail}</span>}
      {text.action === 'run-all' && canRun && (
        <button type="button" className="primary small" onClick={onRunAll}>
          Run All
        </button>
      )}
      <span className="spacer" />
      {gauge && (
        <span className="memory" title="Kernel memory">
          <span
            className="memory-bar"
            role="meter"
            aria-label="Kernel memory"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(gauge.fraction * 100)}
          >
            <span
              style={{ width: `${gauge.fraction * 100}%` }}
              className={gauge.fraction > 0.9 ? 'hot' : ''}
            />
          </span>
          {gauge.label}
        </span>
      )}
      {canRun && (
        <span className="kernel-actions">
          <button type="button" className="small" onClick={onRunAll}>
            Run all
          </button>
          <button type="button" className="small" onClick={onInterrupt} disabled={!live}>
            Interrupt
          </button>
          <button
            type="button"
            className="small"
            onClick={() =>
              confirm('Restart the kernel? Variables are lost; the notebook stays.') && onRestart()
            }
          >
            Restart
          </button>
          <button
            type="button"
            className="small danger"
            onClick={() =>
              confirm('Force-terminate the kernel now? Running work stops at once; the notebook stays.') &&
              onForceTerminate()
            }
          >
            Force terminate
          </button>
        </span>
      )}
    </div>
  );
}
