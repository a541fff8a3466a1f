import type { EditsUpTo, GpuOfferDto } from '@quire/contracts';
import { QuireError, type JsonLogger } from '@quire/service-kit';
import type { Principal } from '../auth/principal';
import { DocOutputSink } from '../docs/doc-output-sink';
import type { NotebookDocs } from '../docs/notebook-docs';
import type { OutputStore } from '../docs/output-store';
import type { ExecEvents } from '../events/exec-events';
import { gpuRequestFromMetadata, type KernelGpuRequest } from '../gpu/notebook-compute';
import type { NotebookRow } from '../notebooks/notebooks.repository';
import type { KernelProvider, KernelTarget } from './kernel-provider';
import { KernelMemoryPoller } from './kernel-memory-poller';
import { KernelSession, type Run } from './kernel-session';

/** Sessions nobody watches and nothing runs in are dropped after this (the kernel itself lives on). */
const SESSION_IDLE_MS = 10 * 60_000;

/**
 * The gateway's kernel sessions, one per kernel, created on first use. Runs
 * of notebook cells read their code from the document and write their outputs
 * back into it.
 */
export class KernelSessions {
  private readonly sessions = new Map<string, KernelSession>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly memory: KernelMemoryPoller;

  constructor(
    private readonly provider: KernelProvider,
    private readonly events: ExecEvents,
    private readonly docs: NotebookDocs,
    private readonly outputs: OutputStore,
    private readonly logger: JsonLogger,
    /** How often watched kernels' memory is read from their hosts (0 = never). */
    memoryPollMs = 5000,
    /** The org's GPU offer (gpu-scheduler), to check a notebook's GPU choice before a start. */
    private readonly gpuOffer: (tenant: string) => Promise<GpuOfferDto> = () =>
      Promise.reject(new QuireError('unavailable', 'no GPU scheduler is configured', 'gpu.unavailable')),
  ) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
    this.memory = new KernelMemoryPoller({
      sessions: () => this.sessions.values(),
      ...(provider.locate ? { locate: (t) => provider.locate!(t) } : {}),
      intervalMs: memoryPollMs,
      logger,
    });
    this.memory.start();
  }

  session(target: KernelTarget, gpuRequest?: () => Promise<KernelGpuRequest | null>): KernelSession {
    let s = this.sessions.get(target.kernelId);
    if (!s) {
      s = new KernelSession(target, this.provider, this.events, this.logger, gpuRequest);
      this.sessions.set(target.kernelId, s);
    }
    return s;
  }

  /** A notebook's kernel: its starts read the notebook's compute choice (CPU or a GPU) from the document. */
  forNotebook(nb: NotebookRow, userId: string): KernelSession {
    return this.session({ kernelId: nb.kernelId, notebookId: nb.id, tenant: nb.orgId, userId }, () =>
      this.gpuRequestOf(nb),
    );
  }

  /** The notebook's compute choice as a kernel start's `gpu`, checked against the org's offer. */
  async gpuRequestOf(nb: Pick<NotebookRow, 'id' | 'orgId'>): Promise<KernelGpuRequest | null> {
    const doc = await this.docs.acquire(nb.id, nb.orgId);
    let metadata: Record<string, unknown>;
    try {
      metadata = doc.notebookMetadata();
    } finally {
      this.docs.release(nb.id);
    }
    return gpuRequestFromMetadata(metadata, () => this.gpuOffer(nb.orgId));
  }

  existing(kernelId: string): KernelSession | undefined {
    return this.sessions.get(kernelId);
  }

  /** Queues cells of a notebook (code read from the document now). */
  async runCells(
    nb: NotebookRow,
    who: Principal,
    cellIds: string[] | 'all',
    editsUpTo?: EditsUpTo,
    origin: 'human' | 'agent' = 'human',
  ): Promise<Run[]> {
    const doc = await this.docs.acquire(nb.id, nb.orgId);
    try {
      // Run what the person saw: wait for their last keystrokes to reach this copy.
      if (editsUpTo) await doc.whenIncludes(editsUpTo.clientId, editsUpTo.clock);
      const ids = cellIds === 'all' ? doc.codeCellIds() : cellIds;
      const cells = ids.map((id) => ({ id, cell: doc.source(id) }));
      const missing = cells.filter((c) => !c.cell).map((c) => c.id);
      if (missing.length)
        throw new QuireError(
          'not_found',
          `no such cell: ${missing.slice(0, 5).join(', ')}`,
          'cell.not_found',
        );
      const batchId = `${who.userId}:${Date.now()}:${Math.random()}`;
      const runs = this.forNotebook(nb, who.userId).enqueue(
        cells
          .filter((c) => c.cell!.type === 'code')
          .map((c) => {
            // The document stays open until this run has written its last output.
            doc.retain();
            return {
              cellId: c.id,
              userId: who.userId,
              userName: who.name,
              code: c.cell!.source,
              batchId,
              origin,
              sink: new DocOutputSink(doc, c.id, this.outputs, () => this.docs.release(nb.id)),
            };
          }),
      );
      for (const run of runs) (run.sink as DocOutputSink).queued(run);
      return runs;
    } finally {
      this.docs.release(nb.id);
    }
  }

  async shutdown(kernelId: string, reason: string): Promise<void> {
    const s = this.sessions.get(kernelId);
    if (s) {
      await s.terminate('system', 'shutdown', reason);
      this.sessions.delete(kernelId);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    this.memory.stop();
  }

  private sweep(): void {
    for (const [id, s] of this.sessions) {
      if (!s.busy && s.listenerCount === 0 && Date.now() - s.lastUsed > SESSION_IDLE_MS)
        this.sessions.delete(id);
    }
  }
}
