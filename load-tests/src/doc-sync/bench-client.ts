import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import * as syncProtocol from 'y-protocols/sync';
import * as Y from 'yjs';

/**
 * One collaborator for the benchmark, the same code against every server:
 * y-protocols sync over y-websocket framing, or Hocuspocus's framing (every
 * message prefixed with the document name, an Auth message first). Awareness
 * is left out on purpose: every server would fan it out the same way.
 */
export type Framing = 'y-websocket' | 'hocuspocus';

const REMOTE = Symbol('remote');

export class BenchClient {
  readonly doc = new Y.Doc();
  private ws: WebSocket | undefined;
  /** Fan-out latencies observed by this client (ms). */
  readonly latencies: number[] = [];
  recording = false;

  constructor(
    private readonly url: string,
    private readonly docName: string,
    private readonly framing: Framing,
  ) {
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === REMOTE) return;
      const e = this.encoder();
      encoding.writeVarUint(e, 0);
      syncProtocol.writeUpdate(e, update);
      this.ws?.send(encoding.toUint8Array(e));
    });
    this.doc.getMap<{ t: number }>('ping').observe((ev) => {
      if (ev.transaction.origin !== REMOTE || !this.recording) return;
      const now = performance.timeOrigin + performance.now();
      for (const k of ev.keysChanged) {
        const v = this.doc.getMap<{ t: number }>('ping').get(k);
        if (v) this.latencies.push(now - v.t);
      }
    });
  }

  private encoder(): encoding.Encoder {
    const e = encoding.createEncoder();
    if (this.framing === 'hocuspocus') encoding.writeVarString(e, this.docName);
    return e;
  }

  /** Resolves once the server's state has arrived (sync step 2). */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = 'nodebuffer';
      this.ws = ws;
      ws.on('error', reject);
      ws.on('close', (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
      ws.on('open', () => {
        if (this.framing === 'hocuspocus') {
          const a = this.encoder();
          encoding.writeVarUint(a, 2); // Auth
          encoding.writeVarUint(a, 0); // Token
          encoding.writeVarString(a, '');
          ws.send(encoding.toUint8Array(a));
        }
        const e = this.encoder();
        encoding.writeVarUint(e, 0);
        syncProtocol.writeSyncStep1(e, this.doc);
        ws.send(encoding.toUint8Array(e));
      });
      ws.on('message', (data: Buffer) => {
        const d = decoding.createDecoder(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        if (this.framing === 'hocuspocus') decoding.readVarString(d);
        if (decoding.readVarUint(d) !== 0) return; // not sync: awareness, auth, acks
        const reply = this.encoder();
        encoding.writeVarUint(reply, 0);
        const kind = syncProtocol.readSyncMessage(d, reply, this.doc, REMOTE);
        if (kind === syncProtocol.messageYjsSyncStep1) ws.send(encoding.toUint8Array(reply));
        if (kind === syncProtocol.messageYjsSyncStep2) resolve();
      });
    });
  }

  /** One edit: a few characters into the shared cell and this client's send time. */
  edit(index: number, n: number): void {
    this.doc.transact(() => {
      const text = this.doc.getText('source');
      text.insert(text.length, `c${index}:${n} `);
      this.doc.getMap('ping').set(String(index), { t: performance.timeOrigin + performance.now(), n });
    });
  }

  close(): void {
    this.ws?.removeAllListeners('close');
    this.ws?.close();
    this.doc.destroy();
  }
}
