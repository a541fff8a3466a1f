import type {
  EnsureRunningRequest,
  KernelGpuStatus,
  KernelLifecycleInput,
  KernelStatus,
} from '@quire/contracts';

/** The kernel a run needs. */
export interface KernelTarget {
  kernelId: string;
  notebookId: string;
  tenant: string;
  userId: string;
  /**
   * The GPU the notebook's compute choice asks for (gpu/notebook-compute.ts),
   * null/absent = CPU. Only read when a kernel is started; a running kernel
   * keeps what it started with.
   */
  gpu?: KernelLifecycleInput['gpu'] | null;
}

export interface RunningKernel {
  hostApiUrl: string;
  via: string;
  notice: string | null;
  ms: number;
  /** GPU kernels (and kernels whose compute choice changed): the device request as the editor shows it. */
  gpu?: KernelGpuStatus | null;
}

/**
 * Where kernels come from. `lifecycle` asks the kernelLifecycle workflow
 * (Temporal) — the production path; `direct` talks to one configured host
 * worker — single-host development setups.
 */
export interface KernelProvider {
  /**
   * Makes sure the kernel runs and says on which host; reports progress for
   * the UI (`onGpu`: a GPU kernel's place in the scheduler's queue as it moves).
   */
  ensureRunning(
    target: KernelTarget,
    reason: EnsureRunningRequest['reason'],
    onStatus: (s: KernelStatus) => void,
    onGpu?: (g: KernelGpuStatus | null) => void,
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
