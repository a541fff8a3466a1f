import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentRunDto, GpuOfferDto } from '@quire/contracts';
import { DEFAULT_AGENT_BUDGET } from '@quire/contracts';

/** One request a fake service received. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/**
 * A small stand-in for an internal service (the agent service, the
 * gpu-scheduler) on 127.0.0.1:0, for the gateway's routing, RBAC and error
 * tests: real HTTP, every request recorded, answers scripted per route.
 */
export class FakeService {
  readonly received: Received[] = [];
  /** The bearer token it accepts; anything else is 401 like the real services. */
  acceptToken: string;
  private server: Server | null = null;
  port = 0;

  constructor(
    token: string,
    private readonly handle: (r: Received, res: ServerResponse, req: IncomingMessage) => void,
    /** Paths its callers reach without the gateway's token (the gpu-scheduler's `/internal/gpu/…`, called by workflow activities). */
    private readonly openPaths: RegExp | null = null,
  ) {
    this.acceptToken = token;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const r: Received = {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headers,
          body: text ? (JSON.parse(text) as unknown) : undefined,
        };
        this.received.push(r);
        const open = this.openPaths?.test(new URL(r.url, 'http://x').pathname) ?? false;
        if (!open && req.headers.authorization !== `Bearer ${this.acceptToken}`) {
          problem(res, 401, 'auth.invalid_token', 'internal token required');
          return;
        }
        this.handle(r, res, req);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export function problem(res: ServerResponse, status: number, code: string, detail: string): void {
  res
    .writeHead(status, { 'content-type': 'application/problem+json' })
    .end(JSON.stringify({ type: `https://quire.dev/problems/${code}`, title: 'x', status, detail, code }));
}

/** An agent run as the agent service would describe it. */
export function agentRun(
  over: Partial<AgentRunDto> & Pick<AgentRunDto, 'runId' | 'notebookId'>,
): AgentRunDto {
  return {
    kernelId: 'k-unknown',
    userId: 'u',
    userName: 'someone',
    goal: 'find the anomalies',
    mode: 'review',
    dryRun: false,
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
    ...over,
  };
}

export function gpuOffer(tenant: string): GpuOfferDto {
  return {
    tenant,
    items: [
      {
        gpuType: 'h100-80gb',
        profile: 'full',
        label: 'H100 80GB',
        free: 0,
        queued: 2,
        runnable: true,
        note: null,
      },
      {
        gpuType: 'h100-80gb',
        profile: '1g.10gb',
        label: '1g.10gb slice of an H100',
        free: 5,
        queued: 0,
        runnable: false,
        note: 'no host can hand a MIG slice to a gVisor sandbox yet',
      },
    ],
  };
}
