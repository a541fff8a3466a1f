import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  TASK_QUEUES,
  type EnsureRunningRequest,
  type EnsureRunningResult,
  type KernelGpuStatus,
  type KernelLifecycleInput,
  type KernelStatus,
  type LifecyclePolicy,
  type LifecycleGpuStatus,
  type LifecycleSnapshot,
  type LifecycleTier,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { Client, Connection, WithStartWorkflowOperation, type Workflow } from '@temporalio/client';
import { sameGpuRequest } from '../gpu/notebook-compute';
import type { KernelProvider, KernelTarget, RunningKernel } from './kernel-provider';

/** What the operator adds to every kernel this gateway starts (config: QUIRE_LIFECYCLE_*). */
export interface LifecycleOverrides {
  /** Overrides of the tenant tier's policy (QUIRE_LIFECYCLE_POLICY_JSON). */
  policy?: Partial<LifecyclePolicy>;
  /** Placement constraints hosts must match (QUIRE_LIFECYCLE_PLACEMENT_LABELS). */
  labels?: Record<string, string>;
}

/** How long a terminate waits for the workflow to close (shutdown: stop the sandbox, drop snapshots). */
const TERMINATE_WAIT_MS = 20_000;

/** States in which a workflow holds a kernel (or its snapshot) that a compute change must not throw away. */
const KERNEL_HELD: ReadonlySet<string> = new Set([
  'PROVISION',
  'COLD_BOOT',
  'RUNNING',
  'IDLE',
  'HIBERNATED',
  'RESTORE',
]);

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
    /** How often a GPU kernel's place in the scheduler's queue is re-read while its start waits (QUIRE_GPU_QUEUE_POLL_MS). */
    private readonly gpuPollMs = 2000,
  ) {}

  async ensureRunning(
    t: KernelTarget,
    reason: EnsureRunningRequest['reason'],
    onStatus: (s: KernelStatus) => void,
    onGpu: (g: KernelGpuStatus | null) => void = () => undefined,
  ): Promise<RunningKernel> {
    const client = await this.connect();
    await this.endIfComputeChanged(client, t);
    const input: KernelLifecycleInput = {
      kernelId: t.kernelId,
      notebookId: t.notebookId,
      tenant: t.tenant,
      userId: t.userId,
      tier: await this.tierOf(t.tenant),
      ...(this.overrides.policy ? { policy: this.overrides.policy } : {}),
      ...(this.overrides.labels ? { labels: this.overrides.labels } : {}),
      ...(t.gpu ? { gpu: t.gpu } : {}),
    };
    let answered = false;
    let slow: NodeJS.Timeout | undefined;
    // Polled while a GPU start waits: only a change is news for the bar.
    let lastStatus = '';
    const statusChanged = (st: KernelStatus) => {
      const key = JSON.stringify(st);
      if (key === lastStatus) return;
      lastStatus = key;
      onStatus(st);
    };
    // A slow start says why it waits; a GPU start keeps saying where it stands in the queue
    // (polled until it is answered: before the scheduler's first answer the state has no position yet).
    const watch = (first: boolean) => {
      slow = setTimeout(
        () => {
          void this.reportWait(client, t.kernelId, statusChanged, onGpu, () => answered).then(() => {
            if (!answered && t.gpu) watch(false);
          });
        },
        first ? SLOW_MS : this.gpuPollMs,
      );
      slow.unref();
    };
    watch(true);
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
      const gpu = await this.gpuAfterStart(client, t, result.notice);
      onGpu(gpu);
      return { hostApiUrl: result.hostApiUrl, via: result.via, notice: result.notice, ms: result.ms, gpu };
    } catch (err) {
      answered = true;
      clearTimeout(slow);
      const why = innermostMessage(err);
      if (t.gpu)
        onGpu({
          gpuType: t.gpu.gpuType,
          profile: t.gpu.profile,
          phase: 'rejected',
          position: null,
          etaS: null,
          // The scheduler's (or the workflow's) words, without the workflow's lead-in the editor already says.
          reason: why.replace(/^No GPU for this kernel: /, ''),
        });
      throw new QuireError(
        'unavailable',
        `the kernel could not be started: ${why}`,
        'kernel.start_failed',
        err,
      );
    }
  }

  /**
   * The GPU line once the kernel runs: its device (or the CPU fallback), the
   * lifecycle's notice (GPU memory not kept across hibernation), and whether
   * the notebook's compute choice differs from what this kernel started with
   * (an existing workflow keeps its input: the choice applies on the next
   * fresh start, i.e. a restart).
   */
  private async gpuAfterStart(
    client: Client,
    t: KernelTarget,
    notice: string | null,
  ): Promise<KernelGpuStatus | null> {
    let snap: LifecycleSnapshot | null = null;
    try {
      snap = await queryState(client, t.kernelId);
    } catch {
      // No state to read (a race with a terminate): say nothing rather than guess.
      return null;
    }
    const running = snap.gpu ?? null;
    const wanted = t.gpu ?? null;
    const base: KernelGpuStatus | null = running
      ? { ...kernelGpuStatus(running), ...(notice ? { notice } : {}) }
      : null;
    if (sameGpuRequest(running, wanted)) return base;
    const change = `The notebook's compute is now ${computeName(wanted)}, but this kernel started on ${computeName(running)}: restart the kernel to switch (its variables are lost).`;
    if (base) return { ...base, notice: change, restartToApply: true };
    return {
      gpuType: wanted!.gpuType,
      profile: wanted!.profile,
      phase: 'none',
      position: null,
      etaS: null,
      notice: change,
      restartToApply: true,
    };
  }

  async terminate(t: KernelTarget, reason: string): Promise<void> {
    const client = await this.connect();
    const handle = client.workflow.getHandle(kernelLifecycleWorkflowId(t.kernelId));
    try {
      await handle.signal(KERNEL_LIFECYCLE.terminateSignal, { reason, userId: t.userId });
    } catch (err) {
      // No workflow = no kernel: nothing to stop.
      if ((err as Error).name !== 'WorkflowNotFoundError') throw err;
      return;
    }
    // Until it has closed, a start would join the ending workflow (and be refused, or keep
    // its old input): a restart must start a new one, with the notebook's compute as it is now.
    await Promise.race([
      handle.result().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, TERMINATE_WAIT_MS).unref()),
    ]);
  }

  /**
   * A workflow keeps the input it started with, so a changed compute choice
   * (CPU ↔ GPU, another GPU) applies to a new workflow. One that has no
   * kernel to lose — never started, died, evicted, or still waiting in the GPU
   * queue — is ended here so this start uses the new choice. One with a
   * kernel (running, idle, hibernated: its variables) is kept; the editor is
   * told a restart applies the choice (gpuAfterStart).
   */
  private async endIfComputeChanged(client: Client, t: KernelTarget): Promise<void> {
    let snap: LifecycleSnapshot;
    try {
      snap = await queryState(client, t.kernelId);
    } catch {
      return; // no workflow (or none answering yet): the start creates one with this input
    }
    if (sameGpuRequest(snap.gpu ?? null, t.gpu ?? null)) return;
    const hasKernel = KERNEL_HELD.has(snap.state) && snap.gpu?.phase !== 'queued';
    if (hasKernel) return;
    await this.terminate(t, "the notebook's compute choice changed before the kernel started");
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
    onGpu: (g: KernelGpuStatus | null) => void,
    answered: () => boolean,
  ): Promise<void> {
    let snap: LifecycleSnapshot | null = null;
    try {
      snap = await queryState(client, kernelId);
    } catch {
      // A workflow that is just being started has no state to ask yet: it is a start.
    }
    if (answered()) return;
    if (snap?.gpu) onGpu(kernelGpuStatus(snap.gpu));
    if (snap?.gpu?.phase === 'queued')
      // Which GPU, the position and the ETA are on the GPU line (kernel_status.gpu).
      return onStatus({ state: 'starting', progress: 'waiting in the GPU queue' });
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

/** The lifecycle's GPU request as the editor's kernel_status shows it. */
export function kernelGpuStatus(g: LifecycleGpuStatus): KernelGpuStatus {
  const a = g.allocation;
  return {
    gpuType: g.gpuType,
    profile: g.profile,
    phase: g.phase,
    position: g.phase === 'queued' ? g.position : null,
    etaS: g.phase === 'queued' ? g.etaS : null,
    device:
      g.phase === 'allocated' && a
        ? `${a.slice ? `${a.slice} slice of ` : ''}GPU ${a.visibleDevice} (${a.device}) on ${a.hostId}`
        : null,
  };
}

/** "CPU", "h100-80gb", "1g.10gb slice of h100-80gb": for sentences about a compute choice. */
function computeName(g: { gpuType: string; profile: string } | null): string {
  if (!g) return 'CPU';
  return g.profile === 'full' ? `a whole ${g.gpuType}` : `a ${g.profile} slice of ${g.gpuType}`;
}

/** The reason at the bottom of a Temporal failure chain (an update's failure wraps the workflow's words). */
function innermostMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = e?.message ?? String(err);
  while (e?.cause && typeof e.cause === 'object') {
    e = e.cause as { message?: string; cause?: unknown };
    if (e.message) message = e.message;
  }
  return message;
}

/** The lifecycle workflow's state query (read-only: no start, no wake-up). */
function queryState(client: Client, kernelId: string): Promise<LifecycleSnapshot> {
  return client.workflow
    .getHandle(kernelLifecycleWorkflowId(kernelId))
    .query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);
}
