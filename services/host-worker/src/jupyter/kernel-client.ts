import { EventEmitter } from 'node:events';
import type { KernelTransport } from '../sandbox/relay-transport';
import type { Channel, ExecuteReplyContent, JupyterMessage } from './messages';
import { JupyterSession, WireError } from './wire';

export interface ExecuteOptions {
  /** Every IOPub message of this execution, as it arrives. */
  onIopub?: (msg: JupyterMessage) => void;
  /** `input()` in the cell: answer the prompt (no handler: the kernel is told input is not allowed). */
  onInput?: (prompt: string, password: boolean) => Promise<string>;
  silent?: boolean;
  storeHistory?: boolean;
}

export interface ExecuteResult {
  reply: ExecuteReplyContent;
  /** The IOPub messages of this execution (status and execute_input excluded). */
  outputs: JupyterMessage[];
  ms: number;
}

interface Pending {
  resolve: (msg: JupyterMessage) => void;
  reject: (err: Error) => void;
}

interface RunningExecution {
  opts: ExecuteOptions;
  outputs: JupyterMessage[];
  reply?: ExecuteReplyContent;
  idle: boolean;
  finish: () => void;
}

const IDLE_AFTER_REPLY_MS = 5000;

export class KernelUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelUnavailableError';
  }
}

/**
 * A Jupyter client over any KernelTransport: signs every request, verifies
 * every reply, matches replies and IOPub messages to their request by
 * parent msg_id. Messages with a bad signature are dropped and reported.
 */
export class KernelClient extends EventEmitter {
  private readonly pending = new Map<string, Pending>();
  private readonly executions = new Map<string, RunningExecution>();
  private hbWaiters: (() => void)[] = [];
  lastStatus: 'starting' | 'idle' | 'busy' | 'unknown' = 'unknown';

  constructor(
    private readonly transport: KernelTransport,
    readonly session: JupyterSession,
  ) {
    super();
    transport.on('frames', (channel: Channel, frames: Buffer[]) => this.onFrames(channel, frames));
  }

  private onFrames(channel: Channel, frames: Buffer[]): void {
    if (channel === 'hb') {
      const waiters = this.hbWaiters;
      this.hbWaiters = [];
      waiters.forEach((w) => w());
      return;
    }
    let msg: JupyterMessage;
    try {
      msg = this.session.deserialize(frames, channel);
    } catch (err) {
      this.emit('protocol-error', err instanceof WireError ? err : new WireError(String(err)));
      return;
    }
    const parentId = msg.parent_header.msg_id;
    if (channel === 'iopub') {
      if (msg.header.msg_type === 'status') {
        this.lastStatus = (msg.content.execution_state as KernelClient['lastStatus']) ?? 'unknown';
      }
      this.emit('iopub', msg);
      const exec = parentId ? this.executions.get(parentId) : undefined;
      if (!exec) return;
      if (msg.header.msg_type === 'status') {
        if (msg.content.execution_state === 'idle') {
          exec.idle = true;
          exec.finish();
        }
        return;
      }
      if (msg.header.msg_type !== 'execute_input') exec.outputs.push(msg);
      exec.opts.onIopub?.(msg);
      return;
    }
    if (channel === 'stdin' && msg.header.msg_type === 'input_request') {
      void this.answerInput(msg);
      return;
    }
    const waiting = parentId ? this.pending.get(parentId) : undefined;
    if (waiting) {
      this.pending.delete(parentId!);
      waiting.resolve(msg);
    }
  }

  private async answerInput(request: JupyterMessage): Promise<void> {
    const exec = request.parent_header.msg_id ? this.executions.get(request.parent_header.msg_id) : undefined;
    const prompt = String(request.content.prompt ?? '');
    const password = Boolean(request.content.password);
    const value = exec?.opts.onInput ? await exec.opts.onInput(prompt, password).catch(() => '') : '';
    this.send('stdin', 'input_reply', { value }, request.header);
  }

  private send(
    channel: Channel,
    msgType: string,
    content: Record<string, unknown>,
    parent: Partial<JupyterMessage['header']> = {},
  ): string {
    const header = this.session.header(msgType);
    this.transport.send(
      channel,
      this.session.serialize({ header, parent_header: parent, metadata: {}, content }),
    );
    return header.msg_id;
  }

  /** A request on shell/control and its reply. */
  request(
    channel: 'shell' | 'control',
    msgType: string,
    content: Record<string, unknown> = {},
    timeoutMs = 30_000,
  ): Promise<JupyterMessage> {
    return new Promise((resolve, reject) => {
      let id: string;
      try {
        id = this.send(channel, msgType, content);
      } catch (err) {
        reject(err as Error);
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new KernelUnavailableError(`${msgType}: no reply from the kernel in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  async kernelInfo(timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return (await this.request('shell', 'kernel_info_request', {}, timeoutMs)).content;
  }

  /**
   * Polls kernel_info until the kernel answers on shell AND its IOPub status
   * for that request arrives: a SUB socket drops what is published before its
   * subscription is in place (ZeroMQ's slow joiner), so shell alone does not
   * prove that a cell's outputs and its final `idle` will reach us.
   */
  async waitForReady(timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      const iopubSeen = new Set<string>();
      const onIopub = (m: JupyterMessage) => {
        if (m.header.msg_type === 'status' && m.parent_header.msg_id) iopubSeen.add(m.parent_header.msg_id);
      };
      this.on('iopub', onIopub);
      try {
        const reply = await this.request(
          'shell',
          'kernel_info_request',
          {},
          Math.min(2000, Math.max(100, deadline - Date.now())),
        );
        const requestId = reply.parent_header.msg_id!;
        const settle = Date.now() + 500;
        while (!iopubSeen.has(requestId) && Date.now() < settle) await new Promise((r) => setTimeout(r, 10));
        if (iopubSeen.has(requestId)) return reply.content;
        last = new Error('IOPub not connected yet');
      } catch (err) {
        last = err;
      } finally {
        this.off('iopub', onIopub);
      }
    }
    throw new KernelUnavailableError(
      `kernel did not answer kernel_info in ${timeoutMs} ms (${(last as Error)?.message})`,
    );
  }

  /** Runs code; resolves when the reply has arrived and the kernel went idle for it. */
  execute(code: string, opts: ExecuteOptions = {}): Promise<ExecuteResult> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      let msgId = '';
      const exec: RunningExecution = {
        opts,
        outputs: [],
        idle: false,
        finish: () => {
          if (exec.reply && exec.idle) {
            this.executions.delete(msgId);
            resolve({ reply: exec.reply, outputs: exec.outputs, ms: Date.now() - started });
            this.emit('execution-done', msgId);
          }
        },
      };
      try {
        const header = this.session.header('execute_request');
        msgId = header.msg_id;
        this.executions.set(msgId, exec);
        this.pending.set(msgId, {
          resolve: (m) => {
            exec.reply = m.content as unknown as ExecuteReplyContent;
            exec.finish();
            // IOPub and shell are separate sockets: idle normally follows the
            // reply within milliseconds. Never hang on a lost idle.
            setTimeout(() => {
              if (!exec.idle && this.executions.has(msgId)) {
                this.emit(
                  'protocol-error',
                  new WireError(`no IOPub idle for ${msgId} within ${IDLE_AFTER_REPLY_MS} ms of its reply`),
                );
                exec.idle = true;
                exec.finish();
              }
            }, IDLE_AFTER_REPLY_MS).unref();
          },
          reject: (e) => {
            this.executions.delete(msgId);
            reject(e);
          },
        });
        this.transport.send(
          'shell',
          this.session.serialize({
            header,
            parent_header: {},
            metadata: {},
            content: {
              code,
              silent: opts.silent ?? false,
              store_history: opts.storeHistory ?? true,
              user_expressions: {},
              allow_stdin: Boolean(opts.onInput),
              stop_on_error: true,
            },
          }),
        );
      } catch (err) {
        this.executions.delete(msgId);
        this.pending.delete(msgId);
        reject(err as Error);
      }
    });
  }

  /** How many executions are running or waiting in the kernel. */
  get runningExecutions(): number {
    return this.executions.size;
  }

  /** Resolves true once no execution is in flight, false after `timeoutMs`. */
  waitForNoExecutions(timeoutMs: number): Promise<boolean> {
    if (this.executions.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.off('execution-done', on);
        resolve(false);
      }, timeoutMs);
      const on = () => {
        if (this.executions.size > 0) return;
        clearTimeout(timer);
        this.off('execution-done', on);
        resolve(true);
      };
      this.on('execution-done', on);
    });
  }

  /** Fails every request in flight (the kernel died or its sandbox went away). */
  failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(err);
    }
    this.executions.clear();
  }

  interrupt(timeoutMs = 5000): Promise<JupyterMessage> {
    return this.request('control', 'interrupt_request', {}, timeoutMs);
  }

  shutdown(restart = false, timeoutMs = 5000): Promise<JupyterMessage> {
    return this.request('control', 'shutdown_request', { restart }, timeoutMs);
  }

  /** Heartbeat: an echo through the kernel's hb socket. */
  heartbeat(timeoutMs = 2000): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.hbWaiters = this.hbWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.hbWaiters.push(done);
      try {
        this.transport.send('hb', [Buffer.from('ping')]);
      } catch {
        clearTimeout(timer);
        resolve(false);
      }
    });
  }
}
