import { gpuModelName } from '../compute/gpu-names';
import type { KernelChannelState } from './kernel-channel';
import { kernelStatusText } from './kernel-status-text';
import { gpuMemoryGaugeView, memoryGaugeView } from './memory-gauge';

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
  const gauge = memoryGaugeView(state.memory);
  const gpuGauge = gpuMemoryGaugeView(state.gpuMemory);
  const device = state.gpu?.phase === 'allocated' ? (state.gpu.device ?? null) : null;
  // Something to interrupt: a cell running, or runs waiting (also while the kernel starts or restores).
  const interruptible = state.status?.state === 'busy' || state.queue.length > 0;
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
      {device && state.gpu && (
        <span className="kernel-detail" title={device} data-testid="kernel-gpu-device">
          on {gpuModelName(state.gpu.gpuType)}
          {state.gpu.profile === 'full' ? '' : ` ${state.gpu.profile}`}
        </span>
      )}
      {gauge && (
        <span
          className={`memory memory-${gauge.level}`}
          title={`Kernel memory: ${gauge.spoken}. Over the limit the kernel is stopped.`}
          data-testid="kernel-memory"
        >
          <span
            className="memory-bar"
            role="meter"
            aria-label="Kernel memory"
            aria-valuemin={0}
            aria-valuemax={gauge.limitBytes}
            aria-valuenow={Math.min(gauge.usedBytes, gauge.limitBytes)}
            aria-valuetext={gauge.spoken}
          >
            <span style={{ width: `${gauge.fraction * 100}%` }} />
          </span>
          <span className="memory-label" aria-hidden="true">
            {gauge.label}
          </span>
        </span>
      )}
      {gpuGauge && (
        <span
          className={`memory memory-${gpuGauge.level}`}
          title={`GPU memory: ${gpuGauge.spoken}${device ? ` — ${device}` : ''}. Over the limit CUDA raises out of memory.`}
          data-testid="kernel-gpu-memory"
        >
          <span
            className="memory-bar"
            role="meter"
            aria-label="GPU memory"
            aria-valuemin={0}
            aria-valuemax={gpuGauge.limitBytes}
            aria-valuenow={Math.min(gpuGauge.usedBytes, gpuGauge.limitBytes)}
            aria-valuetext={gpuGauge.spoken}
          >
            <span style={{ width: `${gpuGauge.fraction * 100}%` }} />
          </span>
          <span className="memory-label" aria-hidden="true">
            {gpuGauge.label}
          </span>
        </span>
      )}
      {canRun && (
        <span className="kernel-actions">
          <button type="button" className="small" onClick={onRunAll}>
            Run all
          </button>
          <button type="button" className="small" onClick={onInterrupt} disabled={!interruptible}>
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
