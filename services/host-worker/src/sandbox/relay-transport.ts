import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type { Channel } from '../jupyter/messages';

/**
 * The host side of the kernel shim's stdio relay (see
 * sandbox-runtimes/kernel-shim/quire_kernel_shim.py for the record format).
 * It can be re-attached to new pipes: after `runsc restore` the same kernel
 * talks through the restored process's stdio.
 */
const CHANNEL_CODES: Record<Channel | 'shim', number> = {
  shell: 0,
  control: 1,
  stdin: 2,
  iopub: 3,
  hb: 4,
  shim: 9,
};
/** The shim's answer to a resync request: a record that carries only the host's token. */
const RESYNC_CODE = 8;
const CODE_CHANNELS = new Map(Object.entries(CHANNEL_CODES).map(([k, v]) => [v, k as Channel | 'shim']));

export type ShimMessage =
  | { type: 'ready'; kernelPid: number; restarted?: boolean }
  | { type: 'kernel-exited'; code: number | null; signal: string | null; logTail: string }
  | { type: 'checkpoint-request'; requestId: string }
  | { type: 'error'; message: string };

export interface KernelTransport extends EventEmitter {
  send(channel: Channel, frames: Buffer[]): void;
  sendShim(msg: Record<string, unknown>): void;
}

export function encodeRecord(code: number, parts: Buffer[]): Buffer {
  const head = Buffer.alloc(4);
  head.write('Q', 0);
  head.writeUInt8(code, 1);
  head.writeUInt16BE(parts.length, 2);
  const chunks: Buffer[] = [head];
  for (const p of parts) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.length);
    chunks.push(len, p);
  }
  return Buffer.concat(chunks);
}

/** Incremental decoder: feed chunks, get whole records. */
export class RecordDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { code: number; parts: Buffer[] }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: { code: number; parts: Buffer[] }[] = [];
    for (;;) {
      if (this.buf.length < 4) break;
      if (this.buf[0] !== 0x51)
        throw new Error(`relay stream out of sync (byte 0x${this.buf[0]!.toString(16)})`);
      const code = this.buf.readUInt8(1);
      const n = this.buf.readUInt16BE(2);
      let off = 4;
      const parts: Buffer[] = [];
      let complete = true;
      for (let i = 0; i < n; i++) {
        if (this.buf.length < off + 4) {
          complete = false;
          break;
        }
        const len = this.buf.readUInt32BE(off);
        if (this.buf.length < off + 4 + len) {
          complete = false;
          break;
        }
        parts.push(this.buf.subarray(off + 4, off + 4 + len));
        off += 4 + len;
      }
      if (!complete) break;
      out.push({ code, parts: parts.map((p) => Buffer.from(p)) });
      this.buf = this.buf.subarray(off);
    }
    return out;
  }
}

export class StdioRelayTransport extends EventEmitter implements KernelTransport {
  private stdin?: Writable;
  private decoder = new RecordDecoder();

  /**
   * Binds to a (new) process's pipes; records from the old pipes stop.
   * `resyncToken`: the pipes were in use before (a host worker re-attaching
   * after a restart), so the first bytes may be the tail of a record the old
   * reader half consumed. Everything up to the shim's resync record carrying
   * this token is dropped; call requestResync(token) after attaching.
   */
  attach(stdout: Readable, stdin: Writable, opts: { resyncToken?: string } = {}): void {
    this.decoder = new RecordDecoder();
    this.stdin = stdin;
    let marker = opts.resyncToken
      ? encodeRecord(RESYNC_CODE, [Buffer.from(opts.resyncToken, 'utf8')])
      : undefined;
    let pending = Buffer.alloc(0);
    stdin.on('error', () => undefined); // EPIPE when the sandbox is gone; the exit event reports it
    stdout.on('data', (data: Buffer) => {
      let chunk = data;
      if (marker) {
        pending = Buffer.concat([pending, chunk]);
        const at = pending.indexOf(marker);
        if (at < 0) {
          pending = pending.subarray(Math.max(0, pending.length - marker.length + 1));
          return;
        }
        chunk = pending.subarray(at + marker.length);
        marker = undefined;
        pending = Buffer.alloc(0);
        this.emit('resynced');
      }
      let records;
      try {
        records = this.decoder.push(chunk);
      } catch (err) {
        this.emit('relay-error', err);
        return;
      }
      for (const { code, parts } of records) {
        const channel = CODE_CHANNELS.get(code);
        if (channel === 'shim') {
          try {
            this.emit('shim', JSON.parse(parts[0]!.toString('utf8')) as ShimMessage);
          } catch (err) {
            this.emit('relay-error', err);
          }
        } else if (channel) {
          this.emit('frames', channel, parts);
        }
      }
    });
  }

  send(channel: Channel, frames: Buffer[]): void {
    if (!this.stdin || this.stdin.destroyed)
      throw new Error('kernel relay is not attached (sandbox stopped or hibernated)');
    this.stdin.write(encodeRecord(CHANNEL_CODES[channel], frames));
  }

  /** Asks the shim for the resync record (see attach). Resolves when it arrived. */
  requestResync(token: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('resynced', done);
        reject(new Error(`the kernel shim did not answer a resync in ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('resynced', done);
      this.sendShim({ type: 'resync', token });
    });
  }

  sendShim(msg: Record<string, unknown>): void {
    if (!this.stdin || this.stdin.destroyed)
      throw new Error('kernel relay is not attached (sandbox stopped or hibernated)');
    this.stdin.write(encodeRecord(CHANNEL_CODES.shim, [Buffer.from(JSON.stringify(msg))]));
  }
}
