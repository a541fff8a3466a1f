import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import * as zmq from 'zeromq';
import {
  JupyterSession,
  KernelClient,
  type Channel,
  type GvisorKernelSandbox,
  type KernelTransport,
} from '../lib/host-worker';
import { REPO_ROOT, type BenchHost } from '../lib/kernel-sandboxes';
import { now, sleep, withTimeout } from '../lib/stats';

/** One way of running a cell; `roundTrip` = execute_request sent → execute_reply and status idle received. */
export interface Peer {
  name: string;
  /** What it is, for the results. */
  describe: string;
  roundTrip(code: string): Promise<number>;
  /** A completion request at `cursorPos` (code points) → its reply: ms, and the matches (completion benchmark). */
  complete?(code: string, cursorPos: number): Promise<{ ms: number; matches: string[] }>;
  /** Smaller round trips that split the cost (peers whose client is KernelClient). */
  probes?: { name: string; run: () => Promise<number> }[];
  close(): Promise<void>;
}

/** heartbeat (echoed by the kernel's hb thread) and kernel_info (answered by its main thread). */
function clientProbes(client: KernelClient): NonNullable<Peer['probes']> {
  return [
    {
      name: 'heartbeat',
      run: async () => {
        const t0 = now();
        if (!(await client.heartbeat(ROUND_TRIP_TIMEOUT_MS))) throw new Error('no heartbeat');
        return now() - t0;
      },
    },
    {
      name: 'kernel_info reply',
      run: async () => {
        const t0 = now();
        await client.kernelInfo(ROUND_TRIP_TIMEOUT_MS);
        return now() - t0;
      },
    },
  ];
}

const ROUND_TRIP_TIMEOUT_MS = 10_000;

async function clientRoundTrip(client: KernelClient, code: string): Promise<number> {
  const t0 = now();
  const { reply } = await withTimeout(client.execute(code), ROUND_TRIP_TIMEOUT_MS, 'execute');
  const t1 = now();
  if (reply.status !== 'ok') throw new Error(`execute: ${reply.status}`);
  return t1 - t0;
}

/** Quire's path: KernelClient (in this process) → stdio relay → kernel shim → ipykernel, in gVisor. */
export async function quirePeer(host: BenchHost): Promise<Peer> {
  const sandbox: GvisorKernelSandbox = host.plainSandbox();
  await sandbox.start(); // ready = kernel_info answered and its IOPub status seen
  return {
    name: 'quire',
    describe:
      'Quire: KernelClient over the gVisor stdio relay (kernel shim), in-process; sandbox capped at 1 CPU',
    roundTrip: (code) => clientRoundTrip(sandbox.client, code),
    probes: clientProbes(sandbox.client),
    close: async () => {
      await sandbox.terminate();
    },
  };
}

// ---------------------------------------------------------------------------
// The Jupyter Server peer: its own venv (pinned), a server child process, a kernel via REST,
// the cell over the kernel's /channels WebSocket.

const REQUIREMENTS = join(__dirname, 'jupyter-requirements.txt');

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Creates (once) the venv with Jupyter Server + ipykernel. Idempotent: a stamp holds the requirements' hash. */
export function ensureJupyterVenv(): string {
  const cache = process.env.QUIRE_CACHE_DIR ?? join(REPO_ROOT, '.quire', 'cache');
  const venv = join(cache, 'bench-jupyter');
  const stamp = join(venv, '.quire-requirements.sha256');
  const want = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex');
  if (
    existsSync(stamp) &&
    readFileSync(stamp, 'utf8').trim() === want &&
    existsSync(join(venv, 'bin', 'jupyter-server'))
  ) {
    return venv;
  }
  log(`installing Jupyter Server into ${venv} (pinned: ${REQUIREMENTS})`);
  rmSync(venv, { recursive: true, force: true });
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
  };
  run('python3', ['-m', 'venv', venv]);
  run(join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-q', '-r', REQUIREMENTS]);
  writeFileSync(stamp, `${want}\n`);
  return venv;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Children we started, killed if this process ends early. */
const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((c) => c.kill('SIGKILL')));

async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

function isolatedJupyterEnv(dir: string, venv: string): NodeJS.ProcessEnv {
  return {
    PATH: `${join(venv, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: dir,
    LANG: 'C.UTF-8',
    JUPYTER_CONFIG_DIR: join(dir, 'config'),
    JUPYTER_DATA_DIR: join(dir, 'data'),
    JUPYTER_RUNTIME_DIR: join(dir, 'runtime'),
    IPYTHONDIR: join(dir, 'ipython'),
    MPLCONFIGDIR: join(dir, 'mpl'),
    JUPYTER_PLATFORM_DIRS: '1',
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
  };
}

/**
 * Jupyter Server never sets TCP_NODELAY on its kernel WebSockets, so Nagle's
 * algorithm holds back the frame that follows execute_reply (status idle)
 * until the client's delayed ACK (~40 ms on Linux loopback). This server
 * config switches Nagle off for the tuned peer.
 */
const NODELAY_CONFIG = `# written by the Quire no-op cell benchmark
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

_quire_open = KernelWebsocketHandler.open


async def _open_nodelay(self, kernel_id):
    self.set_nodelay(True)
    return await _quire_open(self, kernel_id)


KernelWebsocketHandler.open = _open_nodelay
`;

export async function jupyterServerPeer(venv: string, opts: { nodelay: boolean }): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), 'quire-bench-jupyter-'));
  if (opts.nodelay) {
    mkdirSync(join(dir, 'config'), { recursive: true });
    writeFileSync(join(dir, 'config', 'jupyter_server_config.py'), NODELAY_CONFIG);
  }
  const port = await freePort();
  const token = randomBytes(24).toString('hex');
  const base = `http://127.0.0.1:${port}`;
  const auth = { Authorization: `token ${token}` };
  const child = spawn(
    join(venv, 'bin', 'jupyter-server'),
    [
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.token=${token}`,
      `--ServerApp.root_dir=${dir}`,
      '--no-browser',
      '--allow-root',
    ],
    { env: isolatedJupyterEnv(dir, venv), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const cleanup = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`jupyter server exited (${child.exitCode}): ${stderr}`);
      if (now() > deadline) throw new Error(`jupyter server not up in 60 s: ${stderr}`);
      const ok = await fetch(`${base}/api/status`, { headers: auth }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await sleep(100);
    }
    const res = await fetch(`${base}/api/kernels`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'python3' }),
    });
    if (!res.ok) throw new Error(`POST /api/kernels: ${res.status} ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };
    const ws = await openChannels(
      `ws://127.0.0.1:${port}/api/kernels/${id}/channels?session_id=${randomUUID()}`,
      auth,
    );
    await waitForKernelOverWs(ws);
    return {
      name: opts.nodelay ? 'jupyter-server-nodelay' : 'jupyter-server',
      describe: opts.nodelay
        ? 'Jupyter Server 2.17.0 as above, with TCP_NODELAY set on the kernel WebSocket (config patch)'
        : 'Jupyter Server 2.17.0, stock: kernel WebSocket /api/kernels/<id>/channels (JSON messages) → ipykernel over ZeroMQ tcp',
      roundTrip: (code) => wsRoundTrip(ws, code),
      complete: (code, cursorPos) => wsComplete(ws, code, cursorPos),
      close: async () => {
        ws.close();
        await fetch(`${base}/api/kernels/${id}`, { method: 'DELETE', headers: auth }).catch(() => undefined);
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

interface WsMessage {
  channel: string;
  header: { msg_type: string; msg_id: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
}

const wsSession = randomUUID();

function wsRequest(msgType: string, content: Record<string, unknown>): { id: string; data: string } {
  const id = randomUUID();
  const data = JSON.stringify({
    header: {
      msg_id: id,
      session: wsSession,
      username: 'bench',
      date: new Date().toISOString(),
      msg_type: msgType,
      version: '5.3',
    },
    parent_header: {},
    metadata: {},
    content,
    channel: 'shell',
    buffers: [],
  });
  return { id, data };
}

function openChannels(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`websocket upgrade refused: ${res.statusCode}`)),
    );
  });
}

/** Sends a request; resolves when its shell reply and its status idle have both arrived. */
function exchange(ws: WebSocket, msgType: string, content: Record<string, unknown>): Promise<WsMessage> {
  const { id, data } = wsRequest(msgType, content);
  return new Promise((resolve, reject) => {
    let reply: WsMessage | undefined;
    let idle = false;
    const onMessage = (raw: WebSocket.RawData) => {
      const msg = JSON.parse(raw.toString()) as WsMessage;
      if (msg.parent_header.msg_id !== id) return;
      if (msg.channel === 'shell') reply = msg;
      else if (
        msg.channel === 'iopub' &&
        msg.header.msg_type === 'status' &&
        msg.content.execution_state === 'idle'
      )
        idle = true;
      if (reply && idle) {
        ws.off('message', onMessage);
        ws.off('close', onClose);
        resolve(reply);
      }
    };
    const onClose = () => reject(new Error('kernel websocket closed'));
    ws.on('message', onMessage);
    ws.once('close', onClose);
    ws.send(data);
  });
}

async function waitForKernelOverWs(ws: WebSocket): Promise<void> {
  const deadline = now() + 60_000;
  while (now() < deadline) {
    try {
      await withTimeout(exchange(ws, 'kernel_info_request', {}), 2000, 'kernel_info over websocket');
      return;
    } catch {
      // not up yet (or its IOPub not yet subscribed): ask again
    }
  }
  throw new Error('the Jupyter Server kernel did not answer kernel_info in 60 s');
}

/** complete_request → complete_reply over a Jupyter kernel WebSocket (JSON protocol); the reply alone, as a completer waits for. */
export async function wsComplete(
  ws: WebSocket,
  code: string,
  cursorPos: number,
): Promise<{ ms: number; matches: string[] }> {
  const { id, data } = wsRequest('complete_request', { code, cursor_pos: cursorPos });
  const t0 = now();
  const reply = await withTimeout(
    new Promise<WsMessage>((resolve, reject) => {
      const onClose = () => reject(new Error('kernel websocket closed'));
      const onMessage = (raw: WebSocket.RawData) => {
        const msg = JSON.parse(raw.toString()) as WsMessage;
        if (msg.parent_header.msg_id !== id || msg.channel !== 'shell') return;
        ws.off('message', onMessage);
        ws.off('close', onClose);
        resolve(msg);
      };
      ws.on('message', onMessage);
      ws.once('close', onClose);
      ws.send(data);
    }),
    ROUND_TRIP_TIMEOUT_MS,
    'complete over websocket',
  );
  const ms = now() - t0;
  if (reply.content.status !== 'ok') throw new Error(`complete: ${String(reply.content.status)}`);
  return { ms, matches: (reply.content.matches as string[] | undefined) ?? [] };
}

async function wsRoundTrip(ws: WebSocket, code: string): Promise<number> {
  const t0 = now();
  const reply = await withTimeout(
    exchange(ws, 'execute_request', {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    }),
    ROUND_TRIP_TIMEOUT_MS,
    'execute over websocket',
  );
  const t1 = now();
  if (reply.content.status !== 'ok') throw new Error(`execute: ${String(reply.content.status)}`);
  return t1 - t0;
}

// ---------------------------------------------------------------------------
// The floor: a local ipykernel (no sandbox) and KernelClient straight over ZeroMQ tcp.

/** KernelTransport over ZeroMQ sockets to a kernel's connection file (shell/control/stdin Dealer, iopub Sub). */
class ZmqTransport extends EventEmitter implements KernelTransport {
  private readonly sockets = new Map<Channel, zmq.Dealer | zmq.Subscriber>();
  private readonly queues = new Map<Channel, Promise<void>>();

  constructor(conn: Record<string, string | number>, identity: string) {
    super();
    const addr = (port: string) => `tcp://${String(conn.ip)}:${String(conn[port])}`;
    const channels: [Channel, string][] = [
      ['shell', 'shell_port'],
      ['control', 'control_port'],
      ['stdin', 'stdin_port'],
      ['hb', 'hb_port'],
    ];
    for (const [channel, port] of channels) {
      const s = new zmq.Dealer({
        linger: 0,
        ...(channel === 'shell' || channel === 'stdin' ? { routingId: identity } : {}),
      });
      s.connect(addr(port));
      this.sockets.set(channel, s);
    }
    const iopub = new zmq.Subscriber({ linger: 0 });
    iopub.subscribe();
    iopub.connect(addr('iopub_port'));
    this.sockets.set('iopub', iopub);
    for (const [channel, s] of this.sockets) void this.pump(channel, s);
  }

  private async pump(channel: Channel, s: zmq.Dealer | zmq.Subscriber): Promise<void> {
    try {
      for await (const frames of s) this.emit('frames', channel, frames);
    } catch {
      // socket closed
    }
  }

  send(channel: Channel, frames: Buffer[]): void {
    const s = this.sockets.get(channel) as zmq.Dealer | undefined;
    if (!s) throw new Error(`no ${channel} socket`);
    const prev = this.queues.get(channel) ?? Promise.resolve();
    this.queues.set(
      channel,
      prev.then(() => s.send(frames)).catch((err: Error) => void this.emit('relay-error', err)),
    );
  }

  sendShim(): void {
    throw new Error('no kernel shim on a direct ZeroMQ connection');
  }

  close(): void {
    for (const s of this.sockets.values()) s.close();
  }
}

export async function rawZmqPeer(venv: string): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), 'quire-bench-ipykernel-'));
  const key = randomBytes(32).toString('hex');
  const ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const conn = {
    transport: 'tcp',
    ip: '127.0.0.1',
    shell_port: ports[0]!,
    iopub_port: ports[1]!,
    stdin_port: ports[2]!,
    control_port: ports[3]!,
    hb_port: ports[4]!,
    key,
    signature_scheme: 'hmac-sha256',
    kernel_name: 'python3',
  };
  const connFile = join(dir, 'kernel.json');
  writeFileSync(connFile, JSON.stringify(conn));
  const child = spawn(join(venv, 'bin', 'python'), ['-m', 'ipykernel_launcher', '-f', connFile], {
    env: isolatedJupyterEnv(dir, venv),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const session = new JupyterSession(key, 'bench');
  const transport = new ZmqTransport(conn, session.sessionId);
  const client = new KernelClient(transport, session);
  const cleanup = async () => {
    transport.close();
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await client.waitForReady(60_000).catch((err: Error) => {
      throw new Error(`${err.message}; ipykernel stderr: ${stderr}`);
    });
    return {
      name: 'raw-zmq',
      describe:
        'floor: KernelClient straight to a local ipykernel (no sandbox) over ZeroMQ tcp (npm zeromq 6)',
      roundTrip: (code) => clientRoundTrip(client, code),
      probes: clientProbes(client),
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
