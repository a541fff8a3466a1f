/**
 * Temporal task queues and workflow names: the contract between whoever starts
 * a workflow (gateway, bridge, CLI) and the worker that runs it.
 */
export const TASK_QUEUES = {
  /** Platform self-checks (durable timer probe). */
  platform: 'quire-platform',
  kernelLifecycle: 'quire-kernel-lifecycle',
} as const;

export interface DurableTimerProbeInput {
  /** How long the workflow waits on a durable timer. */
  sleepMs: number;
  label: string;
}

export interface DurableTimerProbeResult {
  label: string;
  sleptMs: number;
  signalsReceived: number;
}
