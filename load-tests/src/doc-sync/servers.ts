import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Framing } from './bench-client';

const REPO = join(__dirname, '..', '..', '..');

export interface BenchServer {
  name: string;
  pid: number;
  framing: Framing;
  /** Prepares one document and returns the WebSocket URL a client opens for it. */
  openDocument(docName: string): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

/** HS256 JWT, as the gateway mints doc tokens (load-tests may not import services). */
function docToken(key: string, claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
    aud: 'quire:doc',
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 3600,
    ...claims,
  })}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

function launch(
  args: string[],
  env: Record<string, string>,
  ready: (line: string) => boolean,
): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['-r', '@swc-node/register', ...args], {
    cwd: REPO,
    env: { ...process.env, SWC_NODE_PROJECT: join(REPO, 'tsconfig.base.json'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').some(ready)) resolve(proc);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}:\n${out.slice(-3000)}`)));
  });
}

function stopper(proc: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((r) => {
      if (proc.exitCode !== null || proc.signalCode) return r();
      proc.removeAllListeners('exit');
      proc.once('exit', () => r());
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 20_000).unref();
    });
}

/** The real doc-sync service (src/main.ts) against the platform's PostgreSQL and S3. */
export async function docSync(): Promise<BenchServer> {
  const port = await freePort();
  const key = process.env.QUIRE_TOKEN_SIGNING_KEY!;
  const proc = await launch(
    [join(REPO, 'services/doc-sync/src/main.ts')],
    {
      QUIRE_DOC_SYNC_PORT: String(port),
      QUIRE_DOC_SYNC_SCHEMA: `doc_sync_bench_${Date.now().toString(36)}`,
      QUIRE_LOG_LEVEL: 'info',
    },
    (l) => l.includes('"service started"'),
  );
  return {
    name: 'quire doc-sync',
    pid: proc.pid!,
    framing: 'y-websocket',
    async openDocument(nb) {
      const svc = docToken(key, { sub: 'service:bench', org: 'bench', name: 'bench', nb, role: 'service' });
      const res = await fetch(`http://127.0.0.1:${port}/internal/notebooks/${nb}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'bench', createdBy: 'bench' }),
      });
      if (res.status !== 201) throw new Error(`create notebook: ${res.status} ${await res.text()}`);
      const t = docToken(key, { sub: 'user-bench', org: 'bench', name: 'bench', nb, role: 'editor' });
      return `ws://127.0.0.1:${port}/notebooks/${nb}?token=${t}`;
    },
    stop: stopper(proc),
  };
}

export async function hocuspocus(): Promise<BenchServer> {
  const port = await freePort();
  const proc = await launch(
    [join(__dirname, 'peer-servers.ts'), 'hocuspocus', String(port)],
    {},
    (l) => l === 'LISTENING',
  );
  return {
    name: `@hocuspocus/server ${pkgVersion('@hocuspocus/server')}`,
    pid: proc.pid!,
    framing: 'hocuspocus',
    openDocument: async () => `ws://127.0.0.1:${port}`,
    stop: stopper(proc),
  };
}

export async function yWebsocket(): Promise<BenchServer> {
  const port = await freePort();
  const proc = await launch(
    [join(__dirname, 'peer-servers.ts'), 'y-websocket', String(port)],
    {},
    (l) => l === 'LISTENING',
  );
  return {
    name: `y-websocket ${pkgVersion('y-websocket-classic-server')} server`,
    pid: proc.pid!,
    framing: 'y-websocket',
    openDocument: async (nb) => `ws://127.0.0.1:${port}/${nb}`,
    stop: stopper(proc),
  };
}

function pkgVersion(name: string): string {
  // Read the file directly: some packages do not export their package.json.
  for (const root of [join(__dirname, '..', '..'), REPO]) {
    try {
      return (
        JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
    } catch {
      /* next */
    }
  }
  return '?';
}
