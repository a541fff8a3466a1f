import type { KernelChannelServerMessage, NotebookSessionResponse } from '@quire/contracts';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { api } from './harness';

export async function until<T>(what: string, probe: () => T | undefined | false, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** An editor's kernel channel, as the web client opens it. */
export class ChannelClient {
  readonly messages: KernelChannelServerMessage[] = [];
  private n = 0;

  private constructor(readonly ws: WebSocket) {
    // Listen before the handshake completes: `hello` can arrive in the same tick as `open`.
    ws.on('message', (d) => this.messages.push(JSON.parse(String(d)) as KernelChannelServerMessage));
  }

  static async open(url: string, token: string, origin?: string): Promise<ChannelClient> {
    const ws = new WebSocket(url, [`quire.bearer.${token}`], origin ? { origin } : {});
    const c = new ChannelClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`handshake refused: ${res.statusCode}`)),
      );
      ws.once('error', reject);
    });
    await until('hello', () => c.messages.find((m) => m.type === 'hello'));
    return c;
  }

  send(msg: Record<string, unknown>): string {
    const requestId = `r${this.n++}`;
    this.ws.send(JSON.stringify({ requestId, ...msg }));
    return requestId;
  }

  async request(msg: Record<string, unknown>): Promise<KernelChannelServerMessage> {
    const requestId = this.send(msg);
    return until(
      `reply to ${requestId}`,
      () =>
        this.messages.find(
          (m) =>
            (m.type === 'ack' ||
              m.type === 'error' ||
              m.type === 'complete_reply' ||
              m.type === 'inspect_reply') &&
            m.requestId === requestId,
        ),
      60_000,
    );
  }

  /**
   * Runs cells just typed into a DocClient: they reach the gateway's copy of the
   * document through doc-sync a moment later, so `cell.not_found` is retried.
   */
  async run(cellIds: string[], ms = 20_000, editsOf?: DocClient): Promise<string[]> {
    const deadline = Date.now() + ms;
    // With the editor's document: the gateway runs only after its copy has every edit made in it (as the web client asks).
    const editsUpTo = editsOf
      ? { clientId: editsOf.doc.clientID, clock: Y.getState(editsOf.doc.store, editsOf.doc.clientID) }
      : undefined;
    for (;;) {
      const r = await this.request({ type: 'run', cellIds, ...(editsUpTo ? { editsUpTo } : {}) });
      if (r.type === 'ack') return r.executionIds ?? [];
      if (r.type !== 'error' || r.code !== 'cell.not_found' || Date.now() > deadline)
        throw new Error(`run refused: ${JSON.stringify(r)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  of<T extends KernelChannelServerMessage['type']>(
    type: T,
  ): Extract<KernelChannelServerMessage, { type: T }>[] {
    return this.messages.filter((m) => m.type === type) as Extract<KernelChannelServerMessage, { type: T }>[];
  }

  finished(executionId: string, ms = 60_000) {
    return until(
      `execution ${executionId} to finish`,
      () => this.of('execution_finished').find((m) => m.executionId === executionId),
      ms,
    );
  }

  close(): void {
    this.ws.close();
  }
}

/** A y-websocket client of doc-sync with the user's doc token, as the editor opens a notebook. */
export class DocClient {
  readonly doc = new Y.Doc();
  readonly provider: WebsocketProvider;

  private constructor(session: NotebookSessionResponse) {
    const url = new URL(session.docUrl);
    const room = url.pathname.replace(/^\//, '');
    url.pathname = '';
    this.provider = new WebsocketProvider(url.toString().replace(/\/$/, ''), room, this.doc, {
      params: { token: session.docToken },
      WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
      disableBc: true,
    });
  }

  static async open(base: string, token: string, notebookId: string): Promise<DocClient> {
    const s = await api<NotebookSessionResponse>(base, 'GET', `/api/notebooks/${notebookId}/session`, {
      token,
    });
    if (s.status !== 200) throw new Error(`session: ${s.status} ${JSON.stringify(s.body)}`);
    const c = new DocClient(s.body);
    await until('doc sync', () => c.provider.synced, 15_000);
    return c;
  }

  get cells(): Y.Array<Y.Map<unknown>> {
    return this.doc.getArray('cells');
  }

  cell(id: string): Y.Map<unknown> | undefined {
    return this.cells.toArray().find((c) => c.get('id') === id);
  }

  /** Sets a key of the notebook's metadata (as the compute picker does for `quire.compute`). */
  setNotebookMetadata(key: string, value: unknown): void {
    const meta = this.doc.getMap('meta');
    this.doc.transact(() => {
      const current = (meta.get('metadata') as Record<string, unknown> | undefined) ?? {};
      meta.set('metadata', { ...current, [key]: value });
    });
  }

  /** Adds a code cell with this source (as a user typing would). */
  addCode(id: string, source: string): void {
    this.doc.transact(() => {
      const c = new Y.Map<unknown>();
      c.set('id', id);
      c.set('cell_type', 'code');
      c.set('source', new Y.Text(source));
      c.set('metadata', new Y.Map());
      c.set('outputs', new Y.Array());
      c.set('execution_count', null);
      this.cells.push([c]);
    });
  }

  outputs(id: string): Record<string, unknown>[] {
    const o = this.cell(id)?.get('outputs');
    return o instanceof Y.Array ? (o.toArray() as Record<string, unknown>[]) : [];
  }

  execution(id: string): Record<string, unknown> | undefined {
    return this.cell(id)?.get('quire:execution') as Record<string, unknown> | undefined;
  }

  /** Joined text of the cell's stream outputs. */
  stdout(id: string): string {
    return this.outputs(id)
      .filter((o) => o.output_type === 'stream')
      .map((o) => String(o.text))
      .join('');
  }

  close(): void {
    this.provider.destroy();
    this.doc.destroy();
  }
}
