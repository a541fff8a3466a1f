import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthResponse, NotebookSessionResponse, NotebookSummary } from '@quire/contracts';
import { freePort, startServiceProcess, stopServiceProcess, type ServiceProcess } from '@quire/service-kit';
import { bundleWorkflowCode } from '@temporalio/worker';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

/**
 * The real services an agent integration test needs, each its own process
 * started from source: doc-sync, a host worker with gVisor kernels (its own
 * volumes folder), the gateway (with the agent-token kernel channel), and the
 * agent service itself — on the platform's Kafka, PostgreSQL and Temporal.
 */
export async function until<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startDocSync(): Promise<ServiceProcess> {
  const port = await freePort();
  return startServiceProcess({
    name: 'agent-it-doc-sync',
    entry: 'services/doc-sync/src/main.ts',
    port,
    env: {
      QUIRE_DOC_SYNC_PORT: String(port),
      QUIRE_INSTANCE_ID: `doc-sync-agent-it-${port}`,
      QUIRE_LOG_LEVEL: 'warn',
    },
    readyPath: '/healthz',
  });
}

export async function startHostWorker(
  volumesDir: string,
  extraEnv: Record<string, string> = {},
): Promise<ServiceProcess & { stateDir: string }> {
  const port = await freePort();
  const stateDir = mkdtempSync(join(tmpdir(), 'quire-agent-host-'));
  const svc = await startServiceProcess({
    name: 'agent-it-host-worker',
    entry: 'services/host-worker/src/main.ts',
    port,
    env: {
      QUIRE_HOST_WORKER_PORT: String(port),
      QUIRE_HOST_ID: `agent-it-host-${port}`,
      QUIRE_HOST_STATE_DIR: stateDir,
      QUIRE_VOLUMES_DIR: volumesDir,
      QUIRE_HEARTBEAT_INTERVAL_MS: '1000',
      QUIRE_WARM_POOL_SIZE: '0',
      QUIRE_LOG_LEVEL: 'warn',
      ...extraEnv,
    },
    readyPath: '/healthz',
    readyTimeoutMs: 120_000,
  });
  return Object.assign(svc, { stateDir });
}

/** Stops a host worker and removes its gVisor sandboxes (a host worker leaves kernels running on shutdown). */
export async function stopHostWorker(
  host: (ServiceProcess & { stateDir: string }) | undefined,
): Promise<void> {
  if (!host) return;
  await stopServiceProcess(host, 'SIGTERM', 10_000);
  const runsc = process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc';
  const root = join(host.stateDir, 'runsc');
  const listed = spawnSync(runsc, ['--root', root, 'list', '--format=json'], { encoding: 'utf8' });
  if (listed.status !== 0) return;
  for (const c of (JSON.parse(listed.stdout || '[]') as { id: string }[] | null) ?? []) {
    spawnSync(runsc, ['--root', root, 'kill', c.id, 'KILL'], { stdio: 'ignore' });
    spawnSync(runsc, ['--root', root, 'delete', '-force', c.id], { stdio: 'ignore' });
  }
}

export async function startGateway(docSyncUrl: string, hostUrl: string): Promise<ServiceProcess> {
  const port = await freePort();
  return startServiceProcess({
    name: 'agent-it-gateway',
    entry: 'services/gateway/src/main.ts',
    port,
    env: {
      QUIRE_GATEWAY_PORT: String(port),
      QUIRE_DOC_SYNC_URL: docSyncUrl,
      QUIRE_KERNEL_PROVIDER: 'direct',
      QUIRE_HOST_WORKER_URL: hostUrl,
      QUIRE_LOG_LEVEL: 'warn',
    },
    readyPath: '/healthz',
  });
}

/** The agent-run workflow bundled once, so (re)starts of the agent service skip webpack. */
export async function workflowBundleFile(): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') });
  const file = join(mkdtempSync(join(tmpdir(), 'quire-agent-bundle-')), 'workflows.js');
  writeFileSync(file, code);
  return file;
}

export async function startAgent(env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  return startServiceProcess({
    name: 'agent-it-agent',
    entry: 'services/agent/src/main.ts',
    port,
    env: { QUIRE_AGENT_PORT: String(port), QUIRE_LOG_LEVEL: 'warn', ...env },
    readyPath: '/readyz',
  });
}

export async function api<T = unknown>(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: body as T };
}

let n = 0;
export async function signup(gateway: string, tag: string): Promise<AuthResponse> {
  const r = await api<AuthResponse>(gateway, 'POST', '/api/auth/signup', {
    body: {
      email: `${tag}-${Date.now().toString(36)}-${n++}@example.test`,
      name: tag,
      password: 'correct horse battery',
      orgName: `${tag} org`,
    },
  });
  if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function createNotebook(
  gateway: string,
  token: string,
  title: string,
): Promise<NotebookSummary> {
  const r = await api<NotebookSummary>(gateway, 'POST', '/api/notebooks', { token, body: { title } });
  if (r.status !== 201) throw new Error(`create notebook failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A collaborator's copy of the document: a stock y-websocket client of doc-sync, through the gateway's session. */
export class Collaborator {
  readonly doc = new Y.Doc();
  private readonly provider: WebsocketProvider;

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

  static async open(gateway: string, token: string, notebookId: string): Promise<Collaborator> {
    const s = await api<NotebookSessionResponse>(gateway, 'GET', `/api/notebooks/${notebookId}/session`, {
      token,
    });
    if (s.status !== 200) throw new Error(`session: ${s.status} ${JSON.stringify(s.body)}`);
    const c = new Collaborator(s.body);
    await until('doc sync', () => c.provider.synced, 15_000);
    return c;
  }

  get cells(): Y.Map<unknown>[] {
    return this.doc.getArray<Y.Map<unknown>>('cells').toArray();
  }

  cell(id: string): Y.Map<unknown> | undefined {
    return this.cells.find((c) => c.get('id') === id);
  }

  source(id: string): string {
    return String(this.cell(id)?.get('source') ?? '');
  }

  metadata(id: string): Record<string, unknown> {
    const m = this.cell(id)?.get('metadata');
    return m instanceof Y.Map ? (m.toJSON() as Record<string, unknown>) : {};
  }

  stdout(id: string): string {
    const o = this.cell(id)?.get('outputs');
    return (o instanceof Y.Array ? (o.toArray() as { output_type: string; text?: string }[]) : [])
      .filter((x) => x.output_type === 'stream')
      .map((x) => x.text ?? '')
      .join('');
  }

  execution(id: string): { status: string; executionId: string; userName: string } | undefined {
    return this.cell(id)?.get('quire:execution') as
      { status: string; executionId: string; userName: string } | undefined;
  }

  addMarkdown(id: string, source: string): void {
    this.doc.transact(() => {
      const c = new Y.Map<unknown>();
      c.set('id', id);
      c.set('cell_type', 'markdown');
      c.set('source', new Y.Text(source));
      c.set('metadata', new Y.Map());
      this.doc.getArray<Y.Map<unknown>>('cells').push([c]);
    });
  }

  close(): void {
    this.provider.destroy();
    this.doc.destroy();
  }
}
