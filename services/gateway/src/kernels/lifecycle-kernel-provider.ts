import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  TASK_QUEUES,
  type EnsureRunningRequest,
  type EnsureRunningResult,
  type KernelLifecycleInput,
  type KernelStatus,
  type LifecyclePolicy,
  type LifecycleSnapshot,
  type LifecycleTier,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { Client, Connection, WithStartWorkflowOperation, type Workflow } from '@temporalio/client';
import type { KernelProvider, KernelTarget, RunningKernel } from './kernel-provider';

/** What the operator adds to every kernel this gateway starts (config: QUIRE_LIFECYCLE_*). */
export interface LifecycleOverrides {
  /** Overrides of the tenant tier's policy (QUIRE_LIFECYCLE_POLICY_JSON). */
  policy?: Partial<LifecyclePolicy>;
  /** Placement constraints hosts must match (QUIRE_LIFECYCLE_PLACEMENT_LABELS). */
  labels?: Record<string, string>;
}

/** Only a slow answer (a boot or a restore) is worth showing; after this long the UI hears why it waits. */
const SLOW_MS = 150;

/** The status bar's progress line while a hibernated kernel comes back (also used by the status feed). */
export const RESTORING_PROGRESS = 'bringing back your variables from the snapshot';

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
    private readonly overrides: LifecycleOverrides = {},
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
      ...(this.overrides.policy ? { policy: this.overrides.policy } : {}),
      ...(this.overrides.labels ? { labels: this.overrides.labels } : {}),
    };
    let answered = false;
    const slow = setTimeout(
      () => void this.reportWait(client, t.kernelId, onStatus, () => answered),
      SLOW_MS,
    );
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
      answered = true;
      clearTimeout(slow);
      return { hostApiUrl: result.hostApiUrl, via: result.via, notice: result.notice, ms: result.ms };
    } catch (err) {
      answered = true;
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

  /**
   * Says what a slow ensureRunning waits for: a hibernated kernel being
   * restored ("restoring", the variables come back) is not a new kernel
   * starting. Asked of the workflow itself (state query), so the UI does not
   * depend on when the kernel.lifecycle.v1 events arrive over Kafka.
   */
  private async reportWait(
    client: Client,
    kernelId: string,
    onStatus: (s: KernelStatus) => void,
    answered: () => boolean,
  ): Promise<void> {
    let snap: LifecycleSnapshot | null = null;
    try {
      snap = await queryState(client, kernelId);
    } catch {
      // A workflow that is just being started has no state to ask yet: it is a start.
    }
    if (answered()) return;
    if (snap && (snap.state === 'HIBERNATED' || snap.state === 'RESTORE'))
      onStatus({ state: 'restoring', progress: RESTORING_PROGRESS });
    else if (snap?.queued)
      onStatus({ state: 'starting', progress: `waiting for capacity (about ${snap.queued.etaS} s)` });
    else onStatus({ state: 'starting', progress: 'starting the kernel' });
  }

  /**
   * Where the kernel runs now, from the workflow's state query (no start, no
   * wake-up): its host while RUNNING or IDLE, otherwise null.
   */
  async locate(t: KernelTarget): Promise<string | null> {
    const client = await this.connect();
    try {
      const snap = await queryState(client, t.kernelId);
      return snap.state === 'RUNNING' || snap.state === 'IDLE' ? snap.hostApiUrl : null;
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') return null;
      throw err;
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

/** The lifecycle workflow's state query (read-only: no start, no wake-up). */
function queryState(client: Client, kernelId: string): Promise<LifecycleSnapshot> {
  return client.workflow
    .getHandle(kernelLifecycleWorkflowId(kernelId))
    .query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);
}
