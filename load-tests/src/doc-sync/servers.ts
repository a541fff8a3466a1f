import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startServiceProcess, stopServiceProcess, type ServiceProcess } from '@quire/service-kit';
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

/** A server process from TypeScript source, ready when it prints a line `ready` accepts; logs to a file. */
function launch(
  name: string,
  entry: string,
  args: string[],
  env: Record<string, string>,
  ready: (line: string) => boolean,
): Promise<ServiceProcess> {
  return startServiceProcess({
    name: `bench-${name}`,
    entry,
    args,
    env,
    readyPath: null,
    readyLine: ready,
    sourceMaps: false, // as in production: no source-mapped stack traces slowing the measured servers
    killWithParent: true,
  });
}

function stopper(proc: ServiceProcess): () => Promise<void> {
  return async () => {
    await stopServiceProcess(proc, 'SIGTERM', 20_000);
  };
}

/** The real doc-sync service (src/main.ts) against the platform's PostgreSQL and S3. */
export async function docSync(): Promise<BenchServer> {
  const port = await freePort();
  const key = process.env.QUIRE_TOKEN_SIGNING_KEY!;
  const proc = await launch(
    'doc-sync',
    'services/doc-sync/src/main.ts',
    [],
    {
      QUIRE_DOC_SYNC_PORT: String(port),
      QUIRE_DOC_SYNC_SCHEMA: `doc_sync_bench_${Date.now().toString(36)}`,
      QUIRE_LOG_LEVEL: 'info',
    },
    (l) => l.includes('"service started"'),
  );
  return {
    name: 'quire doc-sync',
    pid: proc.child.pid!,
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
    'hocuspocus',
    join(__dirname, 'peer-servers.ts'),
    ['hocuspocus', String(port)],
    {},
    (l) => l === 'LISTENING',
  );
  return {
    name: `@hocuspocus/server ${pkgVersion('@hocuspocus/server')}`,
    pid: proc.child.pid!,
    framing: 'hocuspocus',
    openDocument: async () => `ws://127.0.0.1:${port}`,
    stop: stopper(proc),
  };
}

export async function yWebsocket(): Promise<BenchServer> {
  const port = await freePort();
  const proc = await launch(
    'y-websocket',
    join(__dirname, 'peer-servers.ts'),
    ['y-websocket', String(port)],
    {},
    (l) => l === 'LISTENING',
  );
  return {
    name: `y-websocket ${pkgVersion('y-websocket-classic-server')} server`,
    pid: proc.child.pid!,
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
