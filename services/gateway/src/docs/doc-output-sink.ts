import { GATEWAY_ROUTES, type CellExecutionInfo } from '@quire/contracts';
import type { Run, RunResult, RunSink } from '../kernels/kernel-session';
import { CellOutputs, DEFAULT_LIMITS, type CellOutputLimits } from './cell-outputs';
import type { NotebookDoc } from './notebook-docs';
import type { OutputStore } from './output-store';

/** How often streaming outputs are written into the document (one Yjs update per flush). */
const FLUSH_MS = 40;

/**
 * Writes one run's outputs, execution count and `quire:execution` into its
 * cell in the notebook document. Holds the document open (retained) from
 * queueing to the end of the run, so the run finishes into the document even
 * when every editor has left.
 */
export class DocOutputSink implements RunSink {
  private outputs: CellOutputs;
  private timer: NodeJS.Timeout | undefined;
  private info!: CellExecutionInfo;

  constructor(
    private readonly doc: NotebookDoc,
    private readonly cellId: string,
    store: OutputStore,
    private readonly release: () => void,
    limits: CellOutputLimits = DEFAULT_LIMITS,
  ) {
    const notebookId = doc.notebookId;
    this.outputs = new CellOutputs(async (body, contentType) => {
      const { objectId, bytes } = await store.put(notebookId, body, contentType);
      return { url: GATEWAY_ROUTES.output(notebookId, objectId), bytes };
    }, limits);
  }

  /** Marks the cell queued in the document (everyone sees it waiting). */
  queued(run: Run): void {
    this.info = {
      executionId: run.executionId,
      userId: run.userId,
      userName: run.userName,
      queuedAt: run.queuedAtIso,
      status: 'queued',
      startedAt: null,
      finishedAt: null,
      ms: null,
    };
    this.doc.setExecution(this.cellId, this.info);
  }

  onStart(run: Run): void {
    this.info = {
      ...this.info,
      status: 'running',
      startedAt: new Date(run.startedAt ?? Date.now()).toISOString(),
    };
    this.doc.clearOutputs(this.cellId);
    this.doc.setExecution(this.cellId, this.info, null);
  }

  async onIopub(_run: Run, msgType: string, content: Record<string, unknown>): Promise<void> {
    if (msgType === 'execute_input' || msgType === 'status') return;
    const { displayUpdate } = await this.outputs.apply(msgType, content);
    if (displayUpdate)
      this.doc.updateDisplay(
        displayUpdate.displayId,
        displayUpdate.data,
        displayUpdate.metadata,
        this.cellId,
      );
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  async onFinish(_run: Run, result: RunResult): Promise<void> {
    try {
      await this.outputs.finish();
      this.flush();
      const status: CellExecutionInfo['status'] = result.status === 'timeout' ? 'interrupted' : result.status;
      this.info = { ...this.info, status, finishedAt: new Date().toISOString(), ms: result.ms };
      this.doc.setExecution(
        this.cellId,
        this.info,
        result.status === 'aborted' && !this.info.startedAt ? undefined : result.executionCount,
      );
    } finally {
      this.release();
    }
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const changes = this.outputs.takeChanges();
    if (changes) this.doc.writeOutputs(this.cellId, changes.from, changes.outputs);
  }
}
