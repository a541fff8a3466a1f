import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  TASK_QUEUES,
  type EnsureRunningRequest,
  type EnsureRunningResult,
  type KernelLifecycleInput,
  type KernelStatus,
  type LifecycleTier,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { Client, Connection, WithStartWorkflowOperation, type Workflow } from '@temporalio/client';
import type { KernelProvider, KernelTarget, RunningKernel } from './kernel-provider';

/**
 * Kernels through the kernelLifecycle workflow: update-with-start of
 * `ensureRunning` (starts the workflow when absent, joins it otherwise — one
 * round trip, no race between "start" and "update"), which answers when the
 * kernel runs and on which host.
 */
export class LifecycleKernelProvider implements KernelProvider {
  private client?: Promise<Client>;

  constructor(
    private readonly address: string,
    private readonly namespace: string,
    private readonly tierOf: (tenant: string) => Promise<LifecycleTier>,
    private readonly taskQueue: string = TASK_QUEUES.kernelLifecycle,
  ) {}

  async ensureRunning(
    t: KernelTarget,
    reason: EnsureRunningRequest['reason'],
    onStatus: (s: KernelStatus) => void,
  ): Promise<RunningKernel> {
    const client = await this.connect();
    const input: KernelLifecycleInput = {
      kernelId: t.kernelId,
      notebookId: t.notebookId,
      tenant: t.tenant,
      userId: t.userId,
      tier: await this.tierOf(t.tenant),
    };
    // Only a slow answer (a boot or a restore) is worth showing as "starting".
    const slow = setTimeout(() => onStatus({ state: 'starting', progress: 'starting the kernel' }), 150);
    try {
      const start = new WithStartWorkflowOperation(KERNEL_LIFECYCLE.workflowType, {
        workflowId: kernelLifecycleWorkflowId(t.kernelId),
        taskQueue: this.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      // Its failure is the update's failure (thrown below); unobserved it would be an unhandled rejection.
      start.workflowHandle().catch(() => undefined);
      const result = await client.workflow.executeUpdateWithStart<
        Workflow,
        EnsureRunningResult,
        [EnsureRunningRequest]
      >(KERNEL_LIFECYCLE.ensureRunningUpdate, {
        args: [{ userId: t.userId, reason }],
        startWorkflowOperation: start,
      });
      clearTimeout(slow);
      return { hostApiUrl: result.hostApiUrl, via: result.via, notice: result.notice, ms: result.ms };
    } catch (err) {
      clearTimeout(slow);
      throw new QuireError(
        'unavailable',
        `the kernel could not be started: ${(err as Error).message}`,
        'kernel.start_failed',
        err,
      );
    }
  }

  async terminate(t: KernelTarget, reason: string): Promise<void> {
    const client = await this.connect();
    try {
      await client.workflow
        .getHandle(kernelLifecycleWorkflowId(t.kernelId))
        .signal(KERNEL_LIFECYCLE.terminateSignal, {
          reason,
          userId: t.userId,
        });
    } catch (err) {
      // No workflow = no kernel: nothing to stop.
      if ((err as Error).name !== 'WorkflowNotFoundError') throw err;
    }
  }

  private connect(): Promise<Client> {
    this.client ??= Connection.connect({ address: this.address }).then(
      (connection) => new Client({ connection, namespace: this.namespace }),
    );
    this.client.catch(() => (this.client = undefined));
    return this.client;
  }
}
