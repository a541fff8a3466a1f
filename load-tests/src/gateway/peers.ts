import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { wsComplete, type Peer } from '../noop-cell/peers';
import { now, withTimeout } from '../lib/stats';

const TIMEOUT_MS = 10_000;

async function json<T>(
  base: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

function openWs(url: string, protocols: string[] = []): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`websocket refused: ${res.statusCode}`)));
  });
}

/**
 * The editor's path: the kernel channel (`run` with a cell id; the gateway reads
 * the code from the document, queues, runs it on the host worker, writes the
 * outputs and execution count into the document) until `execution_finished`.
 */
export async function gatewayEditorPeer(base: string): Promise<Peer> {
  const signup = await json<{ token: string }>(base, 'POST', '/api/auth/signup', undefined, {
    email: `bench-${randomUUID()}@example.test`,
    name: 'bench',
    password: 'benchmark password',
  });
  const token = signup.token;
  const nb = await json<{ id: string }>(base, 'POST', '/api/notebooks', token, { title: 'bench' });
  const session = await json<{ docUrl: string; docToken: string; kernelChannelUrl: string }>(
    base,
    'GET',
    `/api/notebooks/${nb.id}/session`,
    token,
  );
  const doc = new Y.Doc();
  const url = new URL(session.docUrl);
  const provider = new WebsocketProvider(url.origin.replace('http', 'ws'), url.pathname.slice(1), doc, {
    params: { token: session.docToken },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  await withTimeout(new Promise<void>((r) => provider.once('sync', () => r())), 15_000, 'doc sync');
  const cells = doc.getArray<Y.Map<unknown>>('cells');
  // The notebook's first cell: set its source to the benchmark cell.
  const cellId = String(cells.get(0).get('id'));
  const src = cells.get(0).get('source') as Y.Text;
  doc.transact(() => src.insert(0, 'pass'));
  const ws = await openWs(session.kernelChannelUrl, [`quire.bearer.${token}`]);
  let n = 0;
  const roundTrip = async (code: string): Promise<number> => {
    // Another cell than `pass` (a benchmark's setup cell): the cell's source becomes it, and the run
    // waits for the gateway's copy of the document to have that edit (editsUpTo), as the editor does.
    let editsUpTo: { clientId: number; clock: number } | undefined;
    if (code !== src.toString()) {
      doc.transact(() => {
        src.delete(0, src.length);
        src.insert(0, code);
      });
      editsUpTo = { clientId: doc.clientID, clock: Y.getState(doc.store, doc.clientID) };
    }
    const requestId = `r${n++}`;
    const t0 = now();
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        let executionId: string | undefined;
        const onMessage = (raw: WebSocket.RawData) => {
          const m = JSON.parse(raw.toString()) as {
            type: string;
            requestId?: string;
            executionIds?: string[];
            executionId?: string;
            status?: string;
            message?: string;
          };
          if (m.type === 'ack' && m.requestId === requestId) executionId = m.executionIds?.[0];
          else if (m.type === 'error' && m.requestId === requestId) reject(new Error(m.message));
          else if (m.type === 'execution_finished' && m.executionId === executionId) {
            ws.off('message', onMessage);
            if (m.status === 'ok') resolve();
            else reject(new Error(`run: ${m.status}`));
          }
        };
        ws.on('message', onMessage);
        ws.send(
          JSON.stringify({ type: 'run', requestId, cellIds: [cellId], ...(editsUpTo ? { editsUpTo } : {}) }),
        );
      }),
      TIMEOUT_MS,
      'run over the kernel channel',
    );
    return now() - t0;
  };
  const complete = async (code: string, cursorPos: number) => {
    const requestId = `c${n++}`;
    const t0 = now();
    const matches = await withTimeout(
      new Promise<string[]>((resolve, reject) => {
        const onMessage = (raw: WebSocket.RawData) => {
          const m = JSON.parse(raw.toString()) as {
            type: string;
            requestId?: string;
            matches?: string[];
            message?: string;
          };
          if (m.requestId !== requestId) return;
          ws.off('message', onMessage);
          if (m.type === 'complete_reply') resolve(m.matches ?? []);
          else reject(new Error(m.message ?? m.type));
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ type: 'complete', requestId, code, cursorPos }));
      }),
      TIMEOUT_MS,
      'complete over the kernel channel',
    );
    return { ms: now() - t0, matches };
  };
  return {
    name: 'quire-gateway-editor',
    complete,
    describe:
      'Quire gateway, editor kernel channel: `run` by cell id → code read from the Y.Doc → fair queue → host worker (NDJSON) → gVisor ipykernel → outputs written to the doc → execution_finished',
    roundTrip,
    close: async () => {
      ws.close();
      provider.destroy();
      doc.destroy();
    },
  };
}

/** The gateway's Jupyter Server–compatible kernel WebSocket, the same JSON protocol the Jupyter Server peer is driven with. */
export async function gatewayJupyterPeer(base: string): Promise<Peer> {
  const signup = await json<{ token: string }>(base, 'POST', '/api/auth/signup', undefined, {
    email: `bench-${randomUUID()}@example.test`,
    name: 'bench',
    password: 'benchmark password',
  });
  const kernel = await json<{ id: string }>(base, 'POST', '/api/kernels', signup.token, { name: 'python3' });
  const ws = await openWs(
    `${base.replace('http', 'ws')}/api/kernels/${kernel.id}/channels?token=${signup.token}`,
  );
  const session = randomUUID();
  const roundTrip = async (code: string): Promise<number> => {
    const id = randomUUID();
    const t0 = now();
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        let reply = false;
        let idle = false;
        const onMessage = (raw: WebSocket.RawData) => {
          const m = JSON.parse(raw.toString()) as {
            channel: string;
            header: { msg_type: string };
            parent_header: { msg_id?: string };
            content: { status?: string; execution_state?: string };
          };
          if (m.parent_header.msg_id !== id) return;
          if (m.channel === 'shell') {
            if (m.content.status !== 'ok') reject(new Error(`execute: ${m.content.status}`));
            reply = true;
          } else if (m.header.msg_type === 'status' && m.content.execution_state === 'idle') idle = true;
          if (reply && idle) {
            ws.off('message', onMessage);
            resolve();
          }
        };
        ws.on('message', onMessage);
        ws.send(
          JSON.stringify({
            channel: 'shell',
            header: {
              msg_id: id,
              session,
              username: 'bench',
              date: new Date().toISOString(),
              msg_type: 'execute_request',
              version: '5.3',
            },
            parent_header: {},
            metadata: {},
            content: {
              code,
              silent: false,
              store_history: true,
              user_expressions: {},
              allow_stdin: false,
              stop_on_error: true,
            },
            buffers: [],
          }),
        );
      }),
      TIMEOUT_MS,
      'execute over the gateway channels',
    );
    return now() - t0;
  };
  return {
    name: 'quire-gateway-jupyter',
    complete: (code, cursorPos) => wsComplete(ws, code, cursorPos),
    describe:
      'Quire gateway, Jupyter-compatible /api/kernels/<id>/channels (JSON) → fair queue → host worker (NDJSON) → gVisor ipykernel',
    roundTrip,
    close: async () => {
      ws.close();
      await fetch(`${base}/api/kernels/${kernel.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${signup.token}` },
      }).catch(() => undefined);
    },
  };
}

/** The host worker's internal execute API alone (NDJSON over HTTP), to split the gateway's share from the host's. */
export async function hostWorkerPeer(hostBase: string): Promise<Peer> {
  const kernelId = `bench-hw-${randomUUID().slice(0, 8)}`;
  const start = await fetch(`${hostBase}/internal/kernels`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kernelId, tenant: 'bench', notebookId: 'bench', userId: 'bench' }),
  });
  if (!start.ok) throw new Error(`host worker start: ${start.status} ${await start.text()}`);
  const roundTrip = async (code: string): Promise<number> => {
    const t0 = now();
    const res = await fetch(`${hostBase}/internal/kernels/${kernelId}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    const text = await res.text();
    const t1 = now();
    if (!text.includes('"type":"reply"')) throw new Error(`host execute: ${text.slice(0, 200)}`);
    return t1 - t0;
  };
  return {
    name: 'host-worker-api',
    describe:
      'Quire host worker internal API alone: POST /internal/kernels/<id>/execute (NDJSON) → gVisor ipykernel (no gateway)',
    roundTrip,
    close: async () => {
      await fetch(`${hostBase}/internal/kernels/${kernelId}`, { method: 'DELETE' }).catch(() => undefined);
    },
  };
}
