import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GpuAllocationRequest, GpuOfferDto, GpuRequestState } from '@quire/contracts';

/** Where one request stands, as the test scripts it (the scheduler's queue, minus the ids). */
export type ScriptedGpuState = Pick<GpuRequestState, 'phase' | 'position' | 'etaS' | 'reason'>;

/**
 * A scripted gpu-scheduler for the editor's GPU browser test (real HTTP on
 * 127.0.0.1:0, gpu-scheduler-api.ts): `GET /api/gpu/offer` for the gateway
 * (with its internal token) and the lifecycle activities' internal routes
 * (`POST /internal/gpu/requests`, `…/release`), whose answers the test sets
 * per kernel. Every allocation request is recorded.
 */
export class FakeGpuScheduler {
  readonly asked: GpuAllocationRequest[] = [];
  readonly released: string[] = [];
  private readonly script = new Map<string, ScriptedGpuState>();
  private server: Server | null = null;
  base = '';

  constructor(
    private readonly token: string,
    private readonly offer: (tenant: string) => GpuOfferDto,
    private readonly initial: ScriptedGpuState = { phase: 'queued', position: 2, etaS: 230, reason: null },
  ) {}

  /** What the scheduler answers for this kernel's requests from now on. */
  set(kernelId: string, state: ScriptedGpuState): void {
    this.script.set(kernelId, state);
  }

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
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse, text: string): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/gpu/offer') {
      if (req.headers.authorization !== `Bearer ${this.token}`)
        return problem(res, 401, 'auth.invalid_token');
      return json(res, 200, this.offer(url.searchParams.get('tenant')!));
    }
    if (req.method === 'POST' && url.pathname === '/internal/gpu/requests') {
      const r = JSON.parse(text) as GpuAllocationRequest;
      this.asked.push(r);
      const s = this.script.get(r.kernelId) ?? this.initial;
      return json(res, 200, {
        requestId: r.requestId,
        kernelId: r.kernelId,
        tenant: r.tenant,
        gpuType: r.gpuType,
        profile: r.profile,
        allocation: null,
        requestedAt: new Date().toISOString(),
        ...s,
      } satisfies GpuRequestState);
    }
    const release = /^\/internal\/gpu\/requests\/([^/]+)\/release$/.exec(url.pathname);
    if (req.method === 'POST' && release) {
      this.released.push(decodeURIComponent(release[1]!));
      return json(res, 200, { requestId: release[1], phase: 'released' });
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
    .end(JSON.stringify({ type: `https://quire.dev/problems/${code}`, title: code, status, code }));
}
