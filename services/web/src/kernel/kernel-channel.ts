import {
  WS_TOKEN_SUBPROTOCOL_PREFIX,
  type KernelGpuMemory,
  type KernelGpuStatus,
  type KernelChannelClientMessage,
  type KernelChannelServerMessage,
  type KernelStatus,
  type QueueEntry,
} from '@quire/contracts';

/**
 * The editor's kernel channel (contracts/src/api/kernel-channel.ts): one
 * WebSocket per open notebook to the gateway. Reconnects with backoff; the
 * state a view needs (status, memory, queue, role) is kept here and pushed to
 * subscribers. Outputs are not taken from here: they arrive in the Y.Doc.
 */
export interface KernelChannelState {
  connected: boolean;
  status: KernelStatus | null;
  memory: { usedBytes: number; limitBytes: number } | null;
  /** A GPU kernel's device request (queue position and ETA while waiting); null for CPU kernels. */
  gpu: KernelGpuStatus | null;
  /** A GPU kernel's device memory and utilisation (the host's ResourceSample); null when unknown or not a GPU kernel. */
  gpuMemory: KernelGpuMemory | null;
  queue: QueueEntry[];
  role: 'owner' | 'editor' | 'runner' | 'viewer' | null;
  /** The latest error the gateway sent for one of my requests. */
  lastError: { code: string; message: string } | null;
  /** Input requests (Python `input()`) waiting for this user. */
  inputRequests: { executionId: string; cellId: string; prompt: string; password: boolean }[];
}

export type KernelReply = Extract<KernelChannelServerMessage, { type: 'complete_reply' | 'inspect_reply' }>;

type Omit1<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type KernelCommand = Omit1<KernelChannelClientMessage, 'requestId'>;

export class KernelChannel {
  private ws: WebSocket | null = null;
  private closed = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private seq = 0;
  private readonly listeners = new Set<(s: KernelChannelState) => void>();
  private readonly messageListeners = new Set<(m: KernelChannelServerMessage) => void>();
  private readonly outbox: KernelChannelClientMessage[] = [];
  /** Requests answered by a reply of their own (completion, inspection), by request id. */
  private readonly asked = new Map<
    string,
    { resolve: (m: KernelReply) => void; reject: (e: Error) => void }
  >();
  state: KernelChannelState = {
    connected: false,
    status: null,
    memory: null,
    gpu: null,
    gpuMemory: null,
    queue: [],
    role: null,
    lastError: null,
    inputRequests: [],
  };

  constructor(
    private url: string,
    private readonly token: () => string,
    private readonly myUserId: string,
  ) {
    this.connect();
  }

  subscribe(fn: (s: KernelChannelState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onMessage(fn: (m: KernelChannelServerMessage) => void): () => void {
    this.messageListeners.add(fn);
    return () => this.messageListeners.delete(fn);
  }

  /** Sends a command (queued while reconnecting). Returns its request id. */
  send(command: KernelCommand): string {
    const requestId = `r${Date.now().toString(36)}-${++this.seq}`;
    const msg = { ...command, requestId } as KernelChannelClientMessage;
    if (command.type === 'input_reply') {
      this.set({
        inputRequests: this.state.inputRequests.filter((r) => r.executionId !== command.executionId),
      });
    }
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
    else this.outbox.push(msg);
    return requestId;
  }

  /**
   * Asks the kernel something that has a reply of its own (completion,
   * inspection). Never queued while disconnected: the answer would be stale.
   * Its errors (the kernel is not running…) reject here, not in `lastError`.
   */
  ask<T extends 'complete' | 'inspect'>(
    command: { type: T; code: string; cursorPos: number },
    timeoutMs = 5000,
  ): Promise<Extract<KernelReply, { type: `${T}_reply` }>> {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN)
      return Promise.reject(new Error('the kernel channel is not connected'));
    const requestId = `q${Date.now().toString(36)}-${++this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.asked.delete(requestId);
        reject(new Error(`no ${command.type} answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.asked.set(requestId, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<KernelReply, { type: `${T}_reply` }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ws!.send(JSON.stringify({ ...command, requestId }));
    });
  }

  close(): void {
    this.closed = true;
    for (const [, p] of this.asked) p.reject(new Error('the editor closed'));
    this.asked.clear();
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000, 'editor closed');
  }

  private set(patch: Partial<KernelChannelState>): void {
    this.state = { ...this.state, ...patch };
    for (const fn of this.listeners) fn(this.state);
  }

  private connect(): void {
    if (this.closed) return;
    // The token rides in the subprotocol: browsers cannot set headers on a WebSocket.
    const ws = new WebSocket(this.url, [`${WS_TOKEN_SUBPROTOCOL_PREFIX}${this.token()}`]);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.set({ connected: true });
      for (const m of this.outbox.splice(0)) ws.send(JSON.stringify(m));
    };
    ws.onmessage = (ev) => {
      let msg: KernelChannelServerMessage;
      try {
        msg = JSON.parse(String(ev.data)) as KernelChannelServerMessage;
      } catch {
        return;
      }
      this.handle(msg);
      for (const fn of this.messageListeners) fn(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const [, p] of this.asked) p.reject(new Error('the kernel channel closed'));
      this.asked.clear();
      this.set({ connected: false });
      if (this.closed) return;
      const delay = Math.min(10_000, 250 * 2 ** this.attempt++) * (0.75 + Math.random() * 0.5);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  private handle(msg: KernelChannelServerMessage): void {
    const asked =
      'requestId' in msg && typeof msg.requestId === 'string' ? this.asked.get(msg.requestId) : undefined;
    if (asked) {
      this.asked.delete((msg as { requestId: string }).requestId);
      if (msg.type === 'complete_reply' || msg.type === 'inspect_reply') asked.resolve(msg);
      else if (msg.type === 'error') asked.reject(new Error(msg.message));
      return;
    }
    switch (msg.type) {
      case 'hello':
        this.set({ role: msg.role });
        break;
      case 'kernel_status':
        this.set({
          status: msg.status,
          memory: msg.memory,
          gpu: msg.gpu ?? null,
          gpuMemory: msg.gpuMemory ?? null,
        });
        break;
      case 'queue':
        this.set({ queue: msg.entries });
        break;
      case 'error':
        this.set({ lastError: { code: msg.code, message: msg.message } });
        break;
      case 'input_request':
        if (msg.userId === this.myUserId) {
          this.set({
            inputRequests: [
              ...this.state.inputRequests,
              {
                executionId: msg.executionId,
                cellId: msg.cellId,
                prompt: msg.prompt,
                password: msg.password,
              },
            ],
          });
        }
        break;
      case 'execution_finished':
        this.set({
          inputRequests: this.state.inputRequests.filter((r) => r.executionId !== msg.executionId),
        });
        break;
      default:
        break;
    }
  }
}
