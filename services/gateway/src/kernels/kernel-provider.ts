import type { EnsureRunningRequest, KernelStatus } from '@quire/contracts';

/** The kernel a run needs. */
export interface KernelTarget {
  kernelId: string;
  notebookId: string;
  tenant: string;
  userId: string;
}

export interface RunningKernel {
  hostApiUrl: string;
  via: string;
  notice: string | null;
  ms: number;
}

/**
 * Where kernels come from. `lifecycle` asks the kernelLifecycle workflow
 * (Temporal) — the production path; `direct` talks to one configured host
 * worker — single-host development setups.
 */
export interface KernelProvider {
  /** Makes sure the kernel runs and says on which host; reports progress for the UI. */
  ensureRunning(
    target: KernelTarget,
    reason: EnsureRunningRequest['reason'],
    onStatus: (s: KernelStatus) => void,
  ): Promise<RunningKernel>;
  /** Stops the kernel now (force terminate, restart, notebook deleted). */
  terminate(target: KernelTarget, reason: string): Promise<void>;
  /**
   * The host worker API the kernel runs on now, without starting or waking it
   * (null: not running anywhere). For reading its memory when this gateway did
   * not start it (another gateway instance did, or this one restarted).
   */
  locate?(target: KernelTarget): Promise<string | null>;
}

export const KERNEL_PROVIDER = Symbol('KERNEL_PROVIDER');
