import { freePort, platformVar } from '@quire/service-kit';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const REPO = join(__dirname, '..', '..', '..', '..');

export interface DocSyncProcess {
  port: number;
  http: string;
  /** y-websocket serverUrl: rooms are notebook ids. */
  ws: string;
  proc: ChildProcess;
  logs: string[];
  /** SIGTERM; resolves with how it exited. */
  stop(): Promise<{ code: number | null; signal: string | null }>;
  kill9(): Promise<void>;
}

/** A unique PostgreSQL schema per test run (doc-sync migrates it on start). */
export function testSchema(tag: string): string {
  return `doc_sync_it_${tag}_${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

/** Starts the real service entry (src/main.ts) as its own process and waits for /readyz. */
export async function startDocSync(env: Record<string, string>, port?: number): Promise<DocSyncProcess> {
  platformVar('QUIRE_POSTGRES_URL');
  const p = port ?? (await freePort());
  const logs: string[] = [];
  const proc = spawn(
    process.execPath,
    ['--enable-source-maps', '-r', '@swc-node/register', join(REPO, 'services/doc-sync/src/main.ts')],
    {
      cwd: REPO,
      env: {
        ...process.env,
        SWC_NODE_PROJECT: join(REPO, 'tsconfig.base.json'),
        QUIRE_DOC_SYNC_PORT: String(p),
        QUIRE_BIND_HOST: '127.0.0.1',
        QUIRE_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  proc.stdout!.on('data', (d: Buffer) => logs.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  const http = `http://127.0.0.1:${p}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`doc-sync exited with ${proc.exitCode}:\n${logs.join('')}`);
    try {
      const res = await fetch(`${http}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`doc-sync did not become ready:\n${logs.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port: p,
    http,
    ws: `ws://127.0.0.1:${p}/notebooks`,
    proc,
    logs,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

export async function api(
  base: string,
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}
