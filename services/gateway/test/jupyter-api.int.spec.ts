import { KernelManager, ServerConnection, SessionManager, type KernelMessage } from '@jupyterlab/services';
import type { AuthResponse } from '@quire/contracts';
import WebSocket from 'ws';
import { until } from './support/clients';
import {
  api,
  bootGateway,
  signup,
  startDocSync,
  startHostWorker,
  type GatewayUnderTest,
  type ServiceProcess,
} from './support/harness';

jest.setTimeout(300_000);

/** The Jupyter Server–compatible API, driven by JupyterLab's own client library. */
describe('Jupyter Server–compatible kernel API', () => {
  let docSync: ServiceProcess;
  let host: ServiceProcess;
  let gw: GatewayUnderTest;
  let alice: AuthResponse;
  let settings: ServerConnection.ISettings;

  beforeAll(async () => {
    [docSync, host] = await Promise.all([startDocSync(), startHostWorker()]);
    gw = await bootGateway({
      QUIRE_DOC_SYNC_URL: docSync.base,
      QUIRE_KERNEL_PROVIDER: 'direct',
      QUIRE_HOST_WORKER_URL: host.base,
    });
    alice = await signup(gw.base, 'alice', 'Jupyter Org');
    settings = ServerConnection.makeSettings({
      baseUrl: `${gw.base}/`,
      wsUrl: `ws://127.0.0.1:${gw.port}/`,
      token: alice.token,
      appendToken: true,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      fetch: fetch as unknown as ServerConnection.ISettings['fetch'],
      Request,
      Headers,
    });
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([docSync?.stop(), host?.stop()]);
  });

  it('@jupyterlab/services KernelManager starts a kernel, connects (v1 binary protocol), executes a cell and gets the result', async () => {
    const manager = new KernelManager({ serverSettings: settings });
    await manager.ready;
    const kernel = await manager.startNew({ name: 'python3' });
    try {
      await until('kernel connected', () => kernel.connectionStatus === 'connected', 60_000);
      expect((kernel as unknown as { _ws: { protocol: string } })._ws.protocol).toBe(
        'v1.kernel.websocket.jupyter.org',
      );
      const info = await kernel.info;
      expect(info.language_info.name).toBe('python');
      const results: unknown[] = [];
      const streams: string[] = [];
      const future = kernel.requestExecute({
        code: 'import sys\nprint("from quire", sys.version_info[0])\n6 * 7',
      });
      future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
        if (msg.header.msg_type === 'execute_result')
          results.push((msg.content as { data: Record<string, unknown> }).data['text/plain']);
        if (msg.header.msg_type === 'stream') streams.push((msg.content as { text: string }).text);
      };
      const reply = await future.done;
      expect(reply.content.status).toBe('ok');
      expect(results).toEqual(['42']);
      expect(streams.join('')).toBe('from quire 3\n');

      // Completion, inspection, is_complete, history and comm_info are the kernel's own answers
      // (they pass the execute queue by), not the gateway's.
      const code = 'sys.versi';
      const comp = await kernel.requestComplete({ code, cursor_pos: code.length });
      expect(comp.content.status).toBe('ok');
      const compOk = comp.content as KernelMessage.ICompleteReplyMsg['content'] & { status: 'ok' };
      expect(compOk.matches.some((m) => m.endsWith('version_info'))).toBe(true);
      expect(compOk.cursor_end).toBe(code.length);
      const insp = await kernel.requestInspect({ code: 'len', cursor_pos: 3, detail_level: 0 });
      expect(insp.content).toMatchObject({ status: 'ok', found: true });
      expect(JSON.stringify((insp.content as { data: unknown }).data)).toMatch(/number of items/);
      expect((await kernel.requestIsComplete({ code: 'for i in range(3):' })).content.status).toBe(
        'incomplete',
      );
      expect((await kernel.requestIsComplete({ code: 'x = 1' })).content.status).toBe('complete');
      const hist = await kernel.requestHistory({ output: false, raw: true, hist_access_type: 'tail', n: 10 });
      expect(hist.content.status).toBe('ok');
      expect(JSON.stringify(hist.content)).toContain('from quire');
      expect((await kernel.requestCommInfo({})).content).toMatchObject({ status: 'ok', comms: {} });

      // Errors come back as Jupyter errors, with the traceback.
      const bad = await kernel.requestExecute({ code: '1/0' }).done;
      expect(bad.content).toMatchObject({ status: 'error', ename: 'ZeroDivisionError' });

      // The REST side agrees.
      const listed = await api<{ id: string; execution_state: string }[]>(gw.base, 'GET', '/api/kernels', {
        token: alice.token,
      });
      expect(listed.body.map((k) => k.id)).toContain(kernel.id);
      const specs = await api<{ default: string }>(gw.base, 'GET', '/api/kernelspecs', {
        token: alice.token,
      });
      expect(specs.body.default).toBe('python3');
    } finally {
      await kernel.shutdown();
    }
    const after = await api<{ id: string }[]>(gw.base, 'GET', '/api/kernels', { token: alice.token });
    expect(after.body.map((k) => k.id)).not.toContain(kernel.id);
    manager.dispose();
  });

  it('SessionManager creates a session with a kernel; the legacy JSON protocol works on the same channels', async () => {
    const sessions = new SessionManager({
      serverSettings: settings,
      kernelManager: new KernelManager({ serverSettings: settings }),
    });
    await sessions.ready;
    const s = await sessions.startNew({
      path: 'analysis.ipynb',
      name: 'analysis.ipynb',
      type: 'notebook',
      kernel: { name: 'python3' },
    });
    try {
      const kernelId = s.kernel!.id;
      // A plain client without a subprotocol speaks JSON text frames.
      const ws = new WebSocket(
        `ws://127.0.0.1:${gw.port}/api/kernels/${kernelId}/channels?token=${alice.token}`,
      );
      const got: {
        channel: string;
        header: { msg_type: string };
        parent_header: { msg_id?: string };
        content: Record<string, unknown>;
      }[] = [];
      ws.on('message', (d) => got.push(JSON.parse(String(d))));
      await new Promise((r) => ws.once('open', r));
      ws.send(
        JSON.stringify({
          channel: 'shell',
          header: {
            msg_id: 'legacy-1',
            msg_type: 'execute_request',
            session: 'x',
            username: 'a',
            date: new Date().toISOString(),
            version: '5.3',
          },
          parent_header: {},
          metadata: {},
          content: {
            code: 'print(2 + 3)',
            silent: false,
            store_history: true,
            user_expressions: {},
            allow_stdin: false,
          },
        }),
      );
      await until('legacy reply', () => got.find((m) => m.header.msg_type === 'execute_reply'), 60_000);
      expect(got.find((m) => m.header.msg_type === 'stream')).toMatchObject({
        channel: 'iopub',
        parent_header: { msg_id: 'legacy-1' },
        content: { text: '5\n' },
      });
      expect(got.find((m) => m.header.msg_type === 'execute_reply')).toMatchObject({
        channel: 'shell',
        content: { status: 'ok' },
      });
      expect(got.filter((m) => m.header.msg_type === 'status').map((m) => m.content.execution_state)).toEqual(
        ['busy', 'idle'],
      );
      ws.close();
      const listed = await api<{ id: string; path: string }[]>(gw.base, 'GET', '/api/sessions', {
        token: alice.token,
      });
      expect(listed.body).toContainEqual(expect.objectContaining({ id: s.id, path: 'analysis.ipynb' }));
    } finally {
      await s.shutdown();
    }
  });

  it('refuses the channels of someone else’s kernel, and a foreign Origin', async () => {
    const k = await api<{ id: string }>(gw.base, 'POST', '/api/kernels', {
      token: alice.token,
      body: { name: 'python3' },
    });
    expect(k.status).toBe(201);
    const bob = await signup(gw.base, 'bob', 'Other');
    const refused = (url: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers });
        ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => resolve(101));
      });
    expect(
      await refused(`ws://127.0.0.1:${gw.port}/api/kernels/${k.body.id}/channels?token=${bob.token}`),
    ).toBe(403);
    expect(
      await refused(`ws://127.0.0.1:${gw.port}/api/kernels/${k.body.id}/channels?token=${alice.token}`, {
        origin: 'http://evil.example',
      }),
    ).toBe(403);
    expect((await api(gw.base, 'DELETE', `/api/kernels/${k.body.id}`, { token: alice.token })).status).toBe(
      204,
    );
  });
});
