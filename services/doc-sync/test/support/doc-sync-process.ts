import { freePort, platformVar, startServiceProcess, stopServiceProcess } from '@quire/service-kit';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const REPO = join(__dirname, '..', '..', '..', '..');

export interface DocSyncProcess {
  port: number;
  http: string;
  /** y-websocket serverUrl: rooms are notebook ids. */
  ws: string;
  proc: ChildProcess;
  /** Its recent output lines (the full output is in `logFile`). */
  logs: string[];
  logFile: string;
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
  const svc = await startServiceProcess({
    name: 'doc-sync',
    entry: 'services/doc-sync/src/main.ts',
    port: p,
    env: { QUIRE_DOC_SYNC_PORT: String(p), QUIRE_BIND_HOST: '127.0.0.1', QUIRE_LOG_LEVEL: 'warn', ...env },
    readyTimeoutMs: 90_000,
    readyPollMs: 200,
    probeTimeoutMs: 1000,
    keepLines: Infinity,
  });
  return {
    port: p,
    http: svc.url,
    ws: `ws://127.0.0.1:${p}/notebooks`,
    proc: svc.child,
    get logs() {
      return svc.lines.map((l) => `${l}\n`);
    },
    logFile: svc.logFile,
    // No escalation to SIGKILL: the tests check that a SIGTERM stop is clean.
    stop: async () => (await stopServiceProcess(svc, 'SIGTERM', null))!,
    kill9: async () => {
      await stopServiceProcess(svc, 'SIGKILL', null);
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
