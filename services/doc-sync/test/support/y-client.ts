import * as decoding from 'lib0/decoding';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

export interface Client {
  doc: Y.Doc;
  provider: WebsocketProvider;
  /** Reasons of permission-denied messages received. */
  denied: string[];
  /** Durability acknowledgements: seq and state vector (decoded). */
  durable: { seq: number; sv: Map<number, number> }[];
  closes: { code: number; reason: string }[];
  synced: Promise<void>;
  destroy(): void;
}

/** A stock y-websocket 3.x WebsocketProvider, plus handlers that record what the server says. */
export function connect(
  serverUrl: string,
  notebookId: string,
  token: string,
  opts: { ack?: boolean; connect?: boolean } = {},
): Client {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(serverUrl, notebookId, doc, {
    WebSocketPolyfill: WebSocket as never,
    params: { token, ...(opts.ack ? { ack: '1' } : {}) },
    connect: opts.connect ?? true,
    maxBackoffTime: 500,
    // Same-process providers would otherwise sync through BroadcastChannel, not the server.
    disableBc: true,
  });
  const client: Client = {
    doc,
    provider,
    denied: [],
    durable: [],
    closes: [],
    synced: new Promise<void>((resolve) => {
      if (provider.synced) resolve();
      provider.once('sync', (s: boolean) => s && resolve());
    }),
    destroy() {
      provider.destroy();
      doc.destroy();
    },
  };
  provider.messageHandlers[2] = (_enc, dec) => {
    decoding.readVarUint(dec); // permission-denied
    client.denied.push(decoding.readVarString(dec));
  };
  provider.messageHandlers[100] = (_enc, dec) => {
    const seq = decoding.readVarUint(dec);
    client.durable.push({ seq, sv: Y.decodeStateVector(decoding.readVarUint8Array(dec)) });
  };
  provider.on('connection-close', (ev: { code: number; reason: string } | null) => {
    if (ev) client.closes.push({ code: ev.code, reason: String(ev.reason) });
  });
  return client;
}

/** Polls until `check` holds (or throws with `what`). */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for: ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Opens a raw WebSocket and resolves with how the server closed it. */
export function closeOf(
  url: string,
  opts: { origin?: string; protocols?: string[]; send?: Buffer } = {},
): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], {
      ...(opts.origin ? { origin: opts.origin } : {}),
      maxPayload: 64 * 1024 * 1024,
    });
    ws.on('open', () => {
      if (opts.send) ws.send(opts.send);
    });
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.on('error', (err) => {
      if (ws.readyState === ws.CLOSED) reject(err);
    });
    setTimeout(() => reject(new Error('server did not close the connection')), 20_000).unref();
  });
}

/** The text of a cell's source (cells[i].source). */
export function cellText(doc: Y.Doc, i = 0): string {
  const cell = doc.getArray<Y.Map<unknown>>('cells').get(i);
  return cell ? String(cell.get('source')) : '';
}
