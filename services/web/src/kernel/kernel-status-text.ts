import type { KernelStatus } from '@quire/contracts';

/**
 * The kernel status bar's words. Honest about what happened and what the user
 * can do: a dead kernel says why and that the notebook itself is intact.
 */
export interface KernelStatusText {
  label: string;
  detail: string | null;
  tone: 'neutral' | 'ok' | 'busy' | 'warn' | 'error';
  /** An action the bar offers, e.g. Run All after the kernel died. */
  action: 'run-all' | null;
}

export function kernelStatusText(status: KernelStatus | null, channelConnected: boolean): KernelStatusText {
  if (!channelConnected) {
    return { label: 'Connecting to the kernel…', detail: null, tone: 'warn', action: null };
  }
  if (!status) return { label: 'Kernel: unknown', detail: null, tone: 'neutral', action: null };
  switch (status.state) {
    case 'none':
      return { label: 'No kernel', detail: 'starts when you run a cell', tone: 'neutral', action: null };
    case 'starting':
      return { label: 'Kernel starting…', detail: status.progress || null, tone: 'busy', action: null };
    case 'idle':
      return { label: 'Kernel idle', detail: null, tone: 'ok', action: null };
    case 'busy':
      return { label: 'Kernel busy', detail: null, tone: 'busy', action: null };
    case 'hibernated':
      return {
        label: 'Kernel hibernated',
        detail: 'restores when you run a cell — variables intact',
        tone: 'neutral',
        action: null,
      };
    case 'restoring':
      return { label: 'Restoring kernel…', detail: status.progress || null, tone: 'busy', action: null };
    case 'dead':
      return {
        label: status.message || `Kernel died (${status.reason})`,
        detail: 'Your notebook is intact. Run All to recompute.',
        tone: 'error',
        action: 'run-all',
      };
  }
}
