import {
  WS_TOKEN_SUBPROTOCOL_PREFIX,
  type KernelChannelServerMessage,
  type NotebookOutput,
  type QueueEntry,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import WebSocket from 'ws';

type Finished = Extract<KernelChannelServerMessage, { type: 'execution_finished' }>;
type IoPub = Extract<KernelChannelServerMessage, { type: 'iopub' }>;

/**
 * The gateway's kernel channel (contracts/src/api/kernel-channel.ts) as the
 * agent uses it, with an agent token: run a cell through the same fair queue
 * as people, collect its IOPub outputs, interrupt or cancel it.
 */
export class KernelChannelClient {
  private readonly waiters = new Map<string, (m: KernelChannelServerMessage) => void>();
  private readonly finished = new Map<string, Finished>();
  private readonly finishWaiters = new Map<
    string,
    { resolve: (m: Finished) => void; reject: (e: Error) => void }
  >();
  private readonly iopub = new Map<string, IoPub[]>();
  private queue: QueueEntry[] = [];
  private queueSeen = false;
  private n = 0;
  private closedWith: Error | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => this.onMessage(String(data)));
    ws.on('close', (code, reason) => {
      this.closedWith = new QuireError(
        'unavailable',
        `the kernel channel closed (${code} ${String(reason)})`,
        'kernel.channel_closed',
      );
      for (const w of this.waiters.values())
        w({ type: 'error', requestId: null, code: 'kernel.channel_closed', message: 'closed' });
      this.waiters.clear();
      for (const w of this.finishWaiters.values()) w.reject(this.closedWith);
      this.finishWaiters.clear();
    });
  }

  /** Connects and waits for `hello`. */
  static async open(url: string, token: string, timeoutMs = 15_000): Promise<KernelChannelClient> {
    const ws = new WebSocket(url, [`${WS_TOKEN_SUBPROTOCOL_PREFIX}${token}`]);
    const client = new KernelChannelClient(ws);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(
          new QuireError('unavailable', 'the gateway kernel channel did not answer', 'kernel.unavailable'),
        );
      }, timeoutMs);
      const onHello = (data: WebSocket.RawData) => {
        if ((JSON.parse(String(data)) as { type?: string }).type !== 'hello') return;
        clearTimeout(timer);
        ws.off('message', onHello);
        resolve();
      };
      ws.on('message', onHello);
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(
          new QuireError(
            res.statusCode === 401 || res.statusCode === 403 ? 'forbidden' : 'unavailable',
            `the gateway refused the kernel channel (${res.statusCode})`,
            'kernel.channel_refused',
          ),
        );
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new QuireError(
            'unavailable',
            `the gateway is not reachable: ${err.message}`,
            'kernel.unavailable',
            err,
          ),
        );
      });
    });
    return client;
  }

  close(): void {
    this.ws.close();
  }

  /** Who is running and queued now (the latest `queue` message). */
  get entries(): readonly QueueEntry[] {
    return this.queue;
  }

  async request(msg: Record<string, unknown>, timeoutMs = 30_000): Promise<KernelChannelServerMessage> {
    if (this.closedWith) throw this.closedWith;
    const requestId = `agent-${this.n++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(requestId);
        reject(
          new QuireError(
            'unavailable',
            `no answer to ${String(msg.type)} from the gateway`,
            'kernel.timeout',
          ),
        );
      }, timeoutMs);
      this.waiters.set(requestId, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.ws.send(JSON.stringify({ requestId, ...msg }));
    });
  }

  /** Queues one cell; returns its execution id. */
  async run(cellId: string): Promise<string> {
    const reply = await this.request({ type: 'run', cellIds: [cellId] });
    if (reply.type === 'ack' && reply.executionIds?.[0]) return reply.executionIds[0];
    if (reply.type === 'error')
      throw new QuireError(
        reply.code === 'cell.not_found'
          ? 'not_found'
          : reply.code === 'access.role'
            ? 'forbidden'
            : 'unavailable',
        reply.message,
        reply.code,
      );
    throw new QuireError('unavailable', 'the gateway queued nothing', 'kernel.unavailable');
  }

  /** Stops the agent's execution: interrupts it when it runs, takes it out of the queue otherwise. */
  async stop(executionId: string): Promise<void> {
    if (this.finished.has(executionId)) return;
    const running = this.queue.find((e) => e.position === 0);
    if (running?.executionId === executionId) await this.request({ type: 'interrupt' });
    else {
      const r = await this.request({ type: 'cancel', executionId });
      // Not queued any more: it started in between.
      if (r.type === 'error' && r.code === 'kernel.not_queued') await this.request({ type: 'interrupt' });
    }
  }

  /** Resolves once the first `queue` message arrived (the gateway sends it right after `hello`). */
  async whenQueueKnown(timeoutMs = 2_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.queueSeen && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  }

  /** Interrupts the kernel when `cellId` is what it runs now; takes queued runs of that cell out of the queue. */
  async interruptIfRunning(cellId: string): Promise<boolean> {
    const running = this.queue.find((e) => e.position === 0);
    const queued = this.queue.filter((e) => e.position > 0 && e.cellId === cellId);
    for (const q of queued) await this.request({ type: 'cancel', executionId: q.executionId });
    if (running?.cellId === cellId) {
      await this.request({ type: 'interrupt' });
      return true;
    }
    return queued.length > 0;
  }

  whenFinished(executionId: string): Promise<Finished> {
    const done = this.finished.get(executionId);
    if (done) return Promise.resolve(done);
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => this.finishWaiters.set(executionId, { resolve, reject }));
  }

  /** The execution's outputs as nbformat outputs, from the IOPub messages seen on this channel. */
  outputsOf(executionId: string): NotebookOutput[] {
    const outputs: NotebookOutput[] = [];
    for (const m of this.iopub.get(executionId) ?? []) {
      const c = m.content;
      switch (m.msgType) {
        case 'stream':
          outputs.push({
            output_type: 'stream',
            name: c.name === 'stderr' ? 'stderr' : 'stdout',
            text: String(c.text ?? ''),
          });
          break;
        case 'execute_result':
          outputs.push({
            output_type: 'execute_result',
            data: (c.data ?? {}) as Record<string, unknown>,
            metadata: (c.metadata ?? {}) as Record<string, unknown>,
            execution_count: typeof c.execution_count === 'number' ? c.execution_count : null,
          });
          break;
        case 'display_data':
          outputs.push({
            output_type: 'display_data',
            data: (c.data ?? {}) as Record<string, unknown>,
            metadata: (c.metadata ?? {}) as Record<string, unknown>,
          });
          break;
        case 'error':
          outputs.push({
            output_type: 'error',
            ename: String(c.ename ?? 'Error'),
            evalue: String(c.evalue ?? ''),
            traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [],
          });
          break;
        case 'clear_output':
          outputs.length = 0;
          break;
      }
    }
    return outputs;
  }

  private onMessage(text: string): void {
    let m: KernelChannelServerMessage;
    try {
      m = JSON.parse(text) as KernelChannelServerMessage;
    } catch {
      return;
    }
    switch (m.type) {
      case 'ack':
      case 'error': {
        const w = m.requestId ? this.waiters.get(m.requestId) : undefined;
        if (w && m.requestId) {
          this.waiters.delete(m.requestId);
          w(m);
        }
        return;
      }
      case 'queue':
        this.queue = m.entries;
        this.queueSeen = true;
        return;
      case 'iopub': {
        const list = this.iopub.get(m.executionId) ?? [];
        list.push(m);
        this.iopub.set(m.executionId, list);
        return;
      }
      case 'execution_finished': {
        this.finished.set(m.executionId, m);
        const w = this.finishWaiters.get(m.executionId);
        if (w) {
          this.finishWaiters.delete(m.executionId);
          w.resolve(m);
        }
        return;
      }
      default:
        return;
    }
  }
}
