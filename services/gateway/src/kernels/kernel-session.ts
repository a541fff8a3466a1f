import { createHash } from 'node:crypto';
import {
  uuidv7,
  type KernelChannelServerMessage,
  type KernelGpuMemory,
  type KernelGpuStatus,
  type KernelShellReply,
  type KernelShellRequest,
  type KernelState,
  type KernelStatus,
  type QueueEntry,
} from '@quire/contracts';
import { QuireError, type JsonLogger } from '@quire/service-kit';
import type { ExecEvents } from '../events/exec-events';
import { FairQueue } from './fair-queue';
import { HostWorkerClient } from './host-worker.client';
import type { KernelProvider, KernelTarget } from './kernel-provider';

export type RunStatus = 'ok' | 'error' | 'interrupted' | 'aborted' | 'kernel_died' | 'timeout';

export interface RunResult {
  status: RunStatus;
  ms: number;
  executionCount: number | null;
  /** The kernel's execute_reply content (absent when the run never reached the kernel). */
  reply?: Record<string, unknown>;
  message?: string;
}

/** Where one run's results go (the notebook document, a Jupyter client). */
export interface RunSink {
  onStart?(run: Run): Promise<void> | void;
  onIopub?(
    run: Run,
    msgType: string,
    content: Record<string, unknown>,
    metadata: Record<string, unknown>,
  ): Promise<void> | void;
  onInputRequest?(run: Run, prompt: string, password: boolean): void;
  onFinish(run: Run, result: RunResult): Promise<void> | void;
}

export interface Run {
  executionId: string;
  cellId: string | null;
  userId: string;
  userName: string;
  code: string;
  /** Runs submitted together (Run All): an error stops the rest of its batch. */
  batchId: string;
  origin: 'human' | 'agent' | 'jupyter-api';
  queuedAt: number;
  queuedAtIso: string;
  startedAt?: number;
  sink: RunSink;
}

/** What collaborators watching this kernel are told (kernel-channel.ts messages). */
export type SessionListener = (msg: KernelChannelServerMessage) => void;

/** The kernel sandbox's memory as its host's cgroup reads it (kernel-channel.ts `memory`). */
export interface KernelMemory {
  usedBytes: number;
  limitBytes: number;
}

/** Readings closer than this to the last one broadcast are not news (cgroup usage jitters by pages). */
const MEMORY_CHANGE_BYTES = 1024 * 1024;

/**
 * One kernel's single executor: a fair queue (FIFO per user, round-robin
 * between users), one run at a time, every IOPub message fanned out to all
 * listeners as it arrives and to the run's sink. Runs do not depend on any
 * listener: a cell keeps running when everyone leaves.
 */
export class KernelSession {
  private readonly queue = new FairQueue<Run>();
  private running: Run | null = null;
  private awaitingInput = false;
  private pumping = false;
  private host: HostWorkerClient | null = null;
  private hostPending: Promise<HostWorkerClient> | null = null;
  private status: KernelStatus = { state: 'none' };
  private memory: KernelMemory | null = null;
  /** GPU kernels (or a compute choice this kernel does not have): the device request as the editor shows it. */
  private gpu: KernelGpuStatus | null = null;
  private gpuMemory: KernelGpuMemory | null = null;
  private readonly listeners = new Set<SessionListener>();
  private stopping: RunStatus | null = null;
  lastUsed = Date.now();
  /** The kernel's last execution count (0 = none yet / fresh kernel); Jupyter clients need the next one up front. */
  lastExecutionCount = 0;

  constructor(
    readonly target: KernelTarget,
    private readonly provider: KernelProvider,
    private readonly events: ExecEvents,
    private readonly logger: JsonLogger,
    /**
     * The GPU the notebook's compute choice asks for, read when a kernel is
     * about to be started (gpu/notebook-compute.ts); throws a clear error for a
     * choice that cannot be honoured. Absent: always CPU (Jupyter API kernels).
     */
    private readonly gpuRequest?: () => Promise<KernelTarget['gpu']>,
  ) {}

  get kernelGpu(): KernelGpuStatus | null {
    return this.gpu;
  }

  get kernelStatus(): KernelStatus {
    return this.status;
  }

  get kernelMemory(): KernelMemory | null {
    return this.memory;
  }

  /** The host worker this gateway last reached the kernel on (null: not known here, or not running). */
  get hostApiUrl(): string | null {
    return this.host?.baseUrl ?? null;
  }

  /**
   * A fresh memory reading (KernelMemoryPoller); everyone watching hears of a
   * real change. Ignored while the kernel is not running: a late reading must
   * not put a gauge back on a hibernated or dead kernel.
   */
  setMemory(m: KernelMemory | null): void {
    const live = this.status.state === 'idle' || this.status.state === 'busy';
    const next = live ? m : null;
    const prev = this.memory;
    const same =
      prev === next ||
      (prev !== null &&
        next !== null &&
        prev.limitBytes === next.limitBytes &&
        Math.abs(prev.usedBytes - next.usedBytes) < MEMORY_CHANGE_BYTES);
    if (same) return;
    this.memory = next;
    this.broadcast(this.statusMessage());
  }

  /** The GPU request moved (queue position, allocated, rejected, released): everyone watching hears it. */
  setGpu(g: KernelGpuStatus | null): void {
    if (JSON.stringify(g) === JSON.stringify(this.gpu)) return;
    this.gpu = g;
    if (g?.phase !== 'allocated') this.gpuMemory = null;
    this.broadcast(this.statusMessage());
  }

  /**
   * A GPU memory reading (host.events.v1 ResourceSample `gpu`, through the
   * status feed). Ignored unless the kernel runs, like the RAM gauge.
   */
  setGpuMemory(m: KernelGpuMemory | null): void {
    const live = this.status.state === 'idle' || this.status.state === 'busy';
    const next = live ? m : null;
    if (JSON.stringify(next) === JSON.stringify(this.gpuMemory)) return;
    this.gpuMemory = next;
    this.broadcast(this.statusMessage());
  }

  private statusMessage(): KernelChannelServerMessage {
    return {
      type: 'kernel_status',
      status: this.status,
      memory: this.memory,
      ...(this.gpu ? { gpu: this.gpu } : {}),
      ...(this.gpuMemory ? { gpuMemory: this.gpuMemory } : {}),
    };
  }

  /**
   * The kernel turned out to be running on this host although this gateway
   * never started it (another gateway instance did, or this one restarted, and
   * only viewers are watching): show it as idle, with its memory, instead of
   * "No kernel". Only from `none`, and never while a start is under way.
   */
  adoptRunning(hostApiUrl: string): void {
    if (this.status.state !== 'none' || this.host || this.hostPending) return;
    this.host = new HostWorkerClient(hostApiUrl);
    this.setStatus({ state: 'idle' });
  }

  get busy(): boolean {
    return this.running !== null || this.queue.size > 0;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  subscribe(l: SessionListener): () => void {
    this.listeners.add(l);
    l(this.statusMessage());
    l({ type: 'queue', entries: this.queueEntries() });
    return () => this.listeners.delete(l);
  }

  /** Queues runs; answers their execution ids. */
  enqueue(runs: Omit<Run, 'executionId' | 'queuedAt' | 'queuedAtIso'>[]): Run[] {
    this.lastUsed = Date.now();
    const added: Run[] = [];
    for (const r of runs) {
      const run: Run = {
        ...r,
        executionId: uuidv7(),
        queuedAt: Date.now(),
        queuedAtIso: new Date().toISOString(),
      };
      this.queue.push(run);
      added.push(run);
      this.events.requested(this.target.tenant, {
        executionId: run.executionId,
        kernelId: this.target.kernelId,
        notebookId: this.target.notebookId,
        cellId: run.cellId,
        userId: run.userId,
        origin: run.origin,
        codeSha256: createHash('sha256').update(run.code).digest('hex'),
        codeBytes: Buffer.byteLength(run.code),
      });
    }
    // Position among what runs before it: 0 = it starts right away (nothing running, first in line).
    const order = this.queue.toArray();
    for (const run of added) {
      const position = order.findIndex((r) => r.executionId === run.executionId) + (this.running ? 1 : 0);
      if (position > 0)
        this.events.queued(this.target.tenant, {
          executionId: run.executionId,
          kernelId: this.target.kernelId,
          userId: run.userId,
          position,
        });
    }
    this.broadcastQueue();
    void this.pump();
    return added;
  }

  /** Removes a queued run (not the running one). */
  async cancel(executionId: string, byUserId: string): Promise<boolean> {
    const [run] = this.queue.remove((r) => r.executionId === executionId);
    if (!run) return false;
    this.broadcastQueue();
    await this.finish(run, {
      status: 'aborted',
      ms: 0,
      executionCount: null,
      message: `cancelled by ${byUserId}`,
    });
    return true;
  }

  async interrupt(byUserId: string): Promise<'interrupted' | 'killed' | 'idle'> {
    const run = this.running;
    if (!run || !this.host) return 'idle';
    this.events.interrupted(this.target.tenant, {
      kernelId: this.target.kernelId,
      executionId: run.executionId,
      by: byUserId,
      mode: 'interrupt',
    });
    this.stopping = 'interrupted';
    return (await this.host.interrupt(this.target.kernelId)).result;
  }

  /**
   * Completion, inspection, is_complete, history, comm_info: straight to the
   * kernel and back, never through the execute queue. A kernel that is not
   * running (not started yet, hibernated) is not started for it: the caller is
   * told so.
   */
  async shellRequest(req: KernelShellRequest): Promise<KernelShellReply> {
    if (!this.host)
      throw new QuireError(
        'conflict',
        'the kernel is not running (not started yet or hibernated): run a cell to start it',
        'kernel.not_running',
      );
    return this.host.shellRequest(this.target.kernelId, req);
  }

  async inputReply(executionId: string, value: string): Promise<void> {
    if (!this.running || this.running.executionId !== executionId || !this.awaitingInput || !this.host)
      throw new QuireError('conflict', 'that run is not waiting for input', 'kernel.no_input_request');
    this.awaitingInput = false;
    await this.host.input(this.target.kernelId, value);
  }

  /** Stops the kernel now; queued runs are aborted. `restart` starts a fresh one right after. */
  async terminate(
    byUserId: string,
    mode: 'restart' | 'force-terminate' | 'shutdown',
    reason: string,
  ): Promise<void> {
    const dropped = this.queue.remove(() => true);
    this.broadcastQueue();
    for (const run of dropped)
      await this.finish(run, {
        status: 'aborted',
        ms: 0,
        executionCount: null,
        message: `the kernel was stopped (${reason})`,
      });
    if (this.running) {
      this.stopping = 'aborted';
      this.events.interrupted(this.target.tenant, {
        kernelId: this.target.kernelId,
        executionId: this.running.executionId,
        by: byUserId,
        mode: 'force-terminate',
      });
    }
    await this.provider.terminate({ ...this.target, userId: byUserId }, reason);
    this.host = null;
    this.lastExecutionCount = 0;
    this.setStatus(
      mode === 'restart'
        ? { state: 'starting', progress: 'restarting' }
        : { state: 'dead', reason: 'terminated', message: reason },
    );
    if (mode === 'restart') {
      try {
        await this.ensureHost(byUserId, 'open');
        this.setStatus({ state: 'idle' });
      } catch (err) {
        this.setStatus({ state: 'dead', reason: 'start_failed', message: (err as Error).message });
      }
    }
  }

  /** Makes sure the kernel runs (opening a notebook, the Jupyter API) without running anything. */
  async open(userId: string, reason: 'open' | 'jupyter-api'): Promise<void> {
    if (this.host) return;
    try {
      await this.ensureHost(userId, reason);
    } catch (err) {
      this.setStatus({ state: 'dead', reason: 'start_failed', message: (err as Error).message });
      throw err;
    }
    if (!this.running) this.setStatus({ state: 'idle' });
  }

  /** The lifecycle workflow moved the kernel (kernel.lifecycle.v1). */
  lifecycleChanged(to: KernelState, reason: string, at: string): void {
    switch (to) {
      case 'HIBERNATED':
        this.host = null;
        // The lifecycle gives the device back on hibernation; the next run asks for one again.
        if (this.gpu?.phase === 'allocated')
          this.gpu = { ...this.gpu, phase: 'released', device: null, restartToApply: false, notice: null };
        return this.setStatus({ state: 'hibernated', since: at });
      case 'RESTORE':
        return this.setStatus({ state: 'restoring', progress: reason });
      case 'PROVISION':
      case 'COLD_BOOT':
        return this.setStatus({ state: 'starting', progress: reason });
      case 'RUNNING':
      case 'IDLE':
        if (!this.running) this.setStatus({ state: 'idle' });
        return;
      case 'EVICTED':
      case 'ABSENT':
        this.host = null;
        return this.setStatus({ state: 'none' });
      case 'DEAD':
        this.host = null;
        return this.setStatus({ state: 'dead', reason: 'dead', message: reason });
    }
  }

  lifecycleDied(reason: string, message: string): void {
    this.host = null;
    this.setStatus({ state: 'dead', reason, message });
  }

  queueEntries(): QueueEntry[] {
    const entries: QueueEntry[] = [];
    const entry = (r: Run, position: number): QueueEntry => ({
      executionId: r.executionId,
      cellId: r.cellId ?? '',
      userId: r.userId,
      userName: r.userName,
      position,
    });
    if (this.running) entries.push(entry(this.running, 0));
    this.queue.toArray().forEach((r, i) => entries.push(entry(r, i + 1)));
    return entries;
  }

  broadcast(msg: KernelChannelServerMessage): void {
    for (const l of this.listeners) {
      try {
        l(msg);
      } catch (err) {
        this.logger.warn('listener failed', { error: String(err) });
      }
    }
  }

  private broadcastQueue(): void {
    this.broadcast({ type: 'queue', entries: this.queueEntries() });
  }

  private setStatus(s: KernelStatus): void {
    this.status = s;
    // Only a running kernel has memory; the next poll fills it in again after a start or restore.
    if (s.state !== 'idle' && s.state !== 'busy') {
      this.memory = null;
      this.gpuMemory = null;
    }
    this.broadcast(this.statusMessage());
  }

  private async ensureHost(
    userId: string,
    reason: 'run' | 'open' | 'jupyter-api' | 'agent',
  ): Promise<HostWorkerClient> {
    if (this.host) return this.host;
    // One request at a time: opening the notebook and pressing Run must not start two kernels.
    this.hostPending ??= this.startTarget(userId)
      .then((target) =>
        this.provider.ensureRunning(
          target,
          reason,
          (s) => this.setStatus(s),
          (g) => this.setGpu(g),
        ),
      )
      .then((k) => (this.host = new HostWorkerClient(k.hostApiUrl)))
      .finally(() => (this.hostPending = null));
    return this.hostPending;
  }

  /** The kernel to start: this session's, with the notebook's compute choice read now. */
  private async startTarget(userId: string): Promise<KernelTarget> {
    if (!this.gpuRequest) return { ...this.target, userId };
    try {
      const gpu = await this.gpuRequest();
      return { ...this.target, userId, gpu: gpu ?? null };
    } catch (err) {
      // The choice cannot be honoured (not offered, invalid, scheduler down): say so, never run on CPU instead.
      this.setGpu({
        gpuType: '',
        profile: '',
        phase: 'rejected',
        position: null,
        etaS: null,
        reason: (err as Error).message,
      });
      throw err;
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      let run: Run | undefined;
      while (!this.running && (run = this.queue.shift())) {
        this.running = run;
        this.broadcastQueue();
        const result = await this.execute(run);
        this.running = null;
        this.awaitingInput = false;
        this.stopping = null;
        this.broadcastQueue();
        await this.finish(run, result);
        if (result.status !== 'ok') {
          // Like Jupyter's stop_on_error: the rest of the batch (Run All) does not run.
          const rest = this.queue.remove((r) => r.batchId === run!.batchId);
          if (rest.length) this.broadcastQueue();
          for (const r of rest)
            await this.finish(r, {
              status: 'aborted',
              ms: 0,
              executionCount: null,
              message: 'an earlier cell failed',
            });
        }
      }
    } finally {
      this.pumping = false;
      this.lastUsed = Date.now();
    }
  }

  private async execute(run: Run, retried = false): Promise<RunResult> {
    let host: HostWorkerClient;
    try {
      host = await this.ensureHost(
        run.userId,
        run.origin === 'agent' ? 'agent' : run.origin === 'jupyter-api' ? 'jupyter-api' : 'run',
      );
    } catch (err) {
      const message = (err as Error).message;
      this.setStatus({ state: 'dead', reason: 'start_failed', message });
      return { status: 'kernel_died', ms: 0, executionCount: null, message };
    }
    run.startedAt = Date.now();
    this.setStatus({ state: 'busy' });
    this.events.started(this.target.tenant, {
      executionId: run.executionId,
      kernelId: this.target.kernelId,
      cellId: run.cellId,
      userId: run.userId,
      waitedMs: run.startedAt - run.queuedAt,
    });
    await run.sink.onStart?.(run);
    let result: RunResult | null = null;
    let notRunning: QuireError | null = null;
    try {
      await host.execute(
        this.target.kernelId,
        { code: run.code, executionId: run.executionId, origin: run.origin === 'agent' ? 'agent' : 'human' },
        async (line) => {
          if (line.type === 'iopub') {
            this.broadcast({
              type: 'iopub',
              executionId: run.executionId,
              cellId: run.cellId ?? '',
              msgType: line.msgType,
              content: line.content,
            });
            try {
              await run.sink.onIopub?.(run, line.msgType, line.content, line.metadata);
            } catch (err) {
              // A sink failure (S3 down) loses that output, never the run.
              this.logger.warn('run sink failed on output', {
                executionId: run.executionId,
                error: String(err),
              });
            }
          } else if (line.type === 'input_request') {
            this.awaitingInput = true;
            this.broadcast({
              type: 'input_request',
              executionId: run.executionId,
              cellId: run.cellId ?? '',
              userId: run.userId,
              prompt: line.prompt,
              password: line.password,
            });
            run.sink.onInputRequest?.(run, line.prompt, line.password);
          } else if (line.type === 'reply') {
            const status = line.capped
              ? 'timeout'
              : line.content.status === 'ok'
                ? 'ok'
                : this.stopping === 'interrupted' || line.content.ename === 'KeyboardInterrupt'
                  ? 'interrupted'
                  : line.content.status === 'aborted'
                    ? 'aborted'
                    : 'error';
            if (typeof line.content.execution_count === 'number')
              this.lastExecutionCount = line.content.execution_count;
            result = {
              status,
              ms: line.ms,
              executionCount:
                typeof line.content.execution_count === 'number' ? line.content.execution_count : null,
              reply: line.content,
            };
          } else if (line.type === 'error') {
            if (line.code === 'kernel.not_found' || line.code === 'kernel.not_running')
              notRunning = new QuireError('conflict', line.message, line.code);
            else
              result = {
                status: this.stopping ?? 'kernel_died',
                ms: Date.now() - run.startedAt!,
                executionCount: null,
                message: line.message,
              };
          }
        },
      );
    } catch (err) {
      if (err instanceof QuireError && (err.code === 'kernel.not_found' || err.code === 'kernel.not_running'))
        notRunning = err;
      else
        result = {
          status: this.stopping ?? 'kernel_died',
          ms: Date.now() - run.startedAt,
          executionCount: null,
          message: (err as Error).message,
        };
    }
    if (notRunning && !retried && !this.stopping) {
      // The kernel moved (hibernated, evicted, host lost) since we last asked: ask again once.
      this.host = null;
      return this.execute(run, true);
    }
    const final: RunResult = result ?? {
      status: this.stopping ?? 'kernel_died',
      ms: Date.now() - run.startedAt,
      executionCount: null,
      message: (notRunning as QuireError | null)?.message ?? 'the kernel stopped without answering',
    };
    if (final.status === 'kernel_died') {
      this.host = null;
      this.setStatus({ state: 'dead', reason: 'kernel_died', message: final.message ?? 'the kernel died' });
    } else if (this.status.state === 'busy' && this.queue.size === 0) this.setStatus({ state: 'idle' });
    return final;
  }

  private async finish(run: Run, result: RunResult): Promise<void> {
    this.events.completed(this.target.tenant, {
      executionId: run.executionId,
      kernelId: this.target.kernelId,
      userId: run.userId,
      status: result.status,
      ms: result.ms,
      executionCount: result.executionCount,
    });
    this.broadcast({
      type: 'execution_finished',
      executionId: run.executionId,
      cellId: run.cellId ?? '',
      status: result.status,
      ms: result.ms,
      executionCount: result.executionCount,
    });
    try {
      await run.sink.onFinish(run, result);
    } catch (err) {
      this.logger.warn('run sink failed', { executionId: run.executionId, error: String(err) });
    }
  }
}
