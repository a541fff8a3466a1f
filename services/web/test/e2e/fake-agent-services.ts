import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DEFAULT_AGENT_BUDGET,
  type AgentRunDto,
  type AgentRunStreamEvent,
  type GpuOfferDto,
} from '@quire/contracts';

export interface Received {
  method: string;
  path: string;
  body: unknown;
}

/**
 * A scripted agent service and gpu-scheduler for the editor's browser test
 * (real HTTP on 127.0.0.1:0, behind the real gateway): runs live in memory,
 * the test pushes steps and changes into their event streams, and every call
 * the gateway forwards is recorded.
 */
export class FakeAgentServices {
  readonly received: Received[] = [];
  readonly runs = new Map<string, AgentRunDto>();
  private readonly streams = new Map<string, Set<ServerResponse>>();
  private server: Server | null = null;
  private seq = 0;
  base = '';

  constructor(
    private readonly token: string,
    private readonly offer: (tenant: string) => GpuOfferDto,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const set of this.streams.values()) for (const s of set) s.end();
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  /** How many browsers watch the run's stream right now. */
  watchers(runId: string): number {
    return this.streams.get(runId)?.size ?? 0;
  }

  /** Changes a run and tells every watcher (a `run` event, or `finished` when it ended). */
  update(runId: string, change: (run: AgentRunDto) => void, type: 'run' | 'finished' = 'run'): void {
    const run = this.runs.get(runId)!;
    change(run);
    this.emit(runId, { type, run });
  }

  emit(runId: string, ev: AgentRunStreamEvent): void {
    for (const s of this.streams.get(runId) ?? []) {
      s.write(`id: ${++this.seq}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
      if (ev.type === 'finished') s.end();
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse, text: string): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const body = text ? (JSON.parse(text) as unknown) : undefined;
    this.received.push({ method: req.method ?? 'GET', path: url.pathname + url.search, body });
    if (req.headers.authorization !== `Bearer ${this.token}`) return problem(res, 401, 'auth.invalid_token');
    if (url.pathname === '/api/gpu/offer') return json(res, 200, this.offer(url.searchParams.get('tenant')!));
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'internal' || parts[1] !== 'agent-runs') return problem(res, 404, 'not_found');
    if (parts.length === 2 && req.method === 'POST') {
      const b = body as { notebookId: string; goal: string; mode: 'review' | 'auto'; dryRun: boolean };
      const run: AgentRunDto = {
        runId: `ar-e2e-${this.runs.size + 1}-${Date.now().toString(36)}`,
        notebookId: b.notebookId,
        kernelId: String(req.headers['x-quire-kernel-id']),
        userId: String(req.headers['x-quire-user-id']),
        userName: decodeURIComponent(String(req.headers['x-quire-user-name'])),
        goal: b.goal,
        mode: b.mode,
        dryRun: b.dryRun,
        status: 'running',
        finishReason: null,
        summary: null,
        provider: { kind: 'openai', model: 'scripted' },
        budget: DEFAULT_AGENT_BUDGET,
        usage: { steps: 0, promptTokens: 0, completionTokens: 0, cost: '0', wallMs: 0 },
        steps: [],
        changes: [],
        undone: false,
        startedAt: new Date().toISOString(),
        finishedAt: null,
      };
      this.runs.set(run.runId, run);
      return json(res, 201, run);
    }
    if (parts.length === 2) {
      const nb = url.searchParams.get('notebookId');
      return json(res, 200, { runs: [...this.runs.values()].filter((r) => r.notebookId === nb).reverse() });
    }
    const run = this.runs.get(parts[2]!);
    if (!run) return problem(res, 404, 'agent.run_not_found');
    const action = parts[3];
    if (!action) return json(res, 200, run);
    if (action === 'events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`event: run\ndata: ${JSON.stringify({ type: 'run', run })}\n\n`);
      const set = this.streams.get(run.runId) ?? new Set();
      set.add(res);
      this.streams.set(run.runId, set);
      res.on('close', () => set.delete(res));
      return;
    }
    if (action === 'review') {
      const r = body as { decision: 'accept' | 'reject'; changeIds?: string[] };
      for (const c of run.changes)
        if (c.status === 'pending' && (!r.changeIds || r.changeIds.includes(c.changeId)))
          c.status = r.decision === 'accept' ? 'accepted' : 'rejected';
      if (!run.changes.some((c) => c.status === 'pending') && run.status === 'awaiting_review')
        run.status = 'running';
      this.emit(run.runId, { type: 'run', run });
      return json(res, 200, run);
    }
    if (action === 'stop') {
      run.status = 'stopped';
      run.finishReason = 'stopped_by_user';
      run.finishedAt = new Date().toISOString();
      json(res, 200, run);
      this.emit(run.runId, { type: 'finished', run });
      return;
    }
    if (action === 'undo') {
      run.undone = true;
      return json(res, 200, run);
    }
    return problem(res, 404, 'not_found');
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function problem(res: ServerResponse, status: number, code: string): void {
  res
    .writeHead(status, { 'content-type': 'application/problem+json' })
    .end(JSON.stringify({ type: code, title: code, status, detail: code, code }));
}
