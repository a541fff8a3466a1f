import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GpuAllocationRequest, GpuReleaseRequest, uuidv7, type GpuRequestState } from '@quire/contracts';
import { ApplicationFailure } from '@temporalio/activity';
import type { LifecycleActivityDeps } from './lifecycle-activities';
import { createLifecycleActivities } from './lifecycle-activities';
import { GpuSchedulerClient } from './gpu-scheduler-client';

/**
 * The lifecycle's GPU activities against a small real HTTP server that keeps
 * the gpu-scheduler contract (contracts/src/api/gpu-scheduler-api.ts): one
 * H100, FIFO queue, idempotent requests and releases, problem+json errors.
 */
class ContractScheduler {
  readonly requests = new Map<string, GpuRequestState>();
  readonly queue: string[] = [];
  holder: string | null = null;
  posts = 0;
  readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  private problem(res: ServerResponse, status: number, code: string, detail: string) {
    res.writeHead(status, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'about:blank', title: code, status, code, detail }));
  }

  private json(res: ServerResponse, body: unknown) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private view(s: GpuRequestState): GpuRequestState {
    const i = this.queue.indexOf(s.requestId);
    return { ...s, position: i >= 0 ? i + 1 : null, etaS: i >= 0 ? (i + 1) * 300 : null };
  }

  private allocate(s: GpuRequestState) {
    this.holder = s.requestId;
    s.phase = 'allocated';
    s.allocation = {
      hostId: 'h-gpu-1',
      device: 'GPU-11111111-2222-3333-4444-555555555555',
      gpuType: s.gpuType,
      slice: null,
      startSlot: null,
      visibleDevice: '0',
      allocatedAt: new Date().toISOString(),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === '/internal/gpu/requests') {
      this.posts++;
      const parsed = GpuAllocationRequest.safeParse(JSON.parse(raw || '{}'));
      if (!parsed.success) return this.problem(res, 400, 'validation.failed', parsed.error.message);
      const r = parsed.data;
      const known = this.requests.get(r.requestId);
      if (known) return this.json(res, this.view(known));
      if (r.tenant === 'org-over-quota')
        return this.problem(res, 409, 'gpu.quota_exceeded', 'org-over-quota has no H100 left');
      if (r.gpuType !== 'h100-80gb')
        return this.problem(res, 400, 'gpu.unknown_type', `no GPUs of type ${r.gpuType}`);
      const s: GpuRequestState = {
        requestId: r.requestId,
        kernelId: r.kernelId,
        tenant: r.tenant,
        gpuType: r.gpuType,
        profile: r.profile,
        phase: 'queued',
        position: null,
        etaS: null,
        allocation: null,
        reason: null,
        requestedAt: new Date().toISOString(),
      };
      this.requests.set(r.requestId, s);
      if (this.holder === null) this.allocate(s);
      else this.queue.push(r.requestId);
      return this.json(res, this.view(s));
    }
    const release = url.pathname.match(/^\/internal\/gpu\/requests\/([^/]+)\/release$/);
    if (req.method === 'POST' && release) {
      const s = this.requests.get(decodeURIComponent(release[1]!));
      if (!s) return this.problem(res, 404, 'gpu.request_not_found', 'no such request');
      const body = GpuReleaseRequest.safeParse(JSON.parse(raw || '{}'));
      if (!body.success) return this.problem(res, 400, 'validation.failed', body.error.message);
      if (s.phase !== 'released') {
        const q = this.queue.indexOf(s.requestId);
        if (q >= 0) this.queue.splice(q, 1);
        if (this.holder === s.requestId) {
          this.holder = null;
          const next = this.queue.shift();
          if (next) this.allocate(this.requests.get(next)!);
        }
        s.phase = 'released';
        s.reason = body.data.reason;
      }
      return this.json(res, this.view(s));
    }
    return this.problem(res, 404, 'not_found', `${req.method} ${url.pathname}`);
  }
}

describe('lifecycle GPU activities against an HTTP server keeping the gpu-scheduler contract', () => {
  const scheduler = new ContractScheduler();
  let baseUrl = '';
  const checkpointHosts = new Set<string>();
  const deps = (over: Partial<LifecycleActivityDeps> = {}): LifecycleActivityDeps =>
    ({
      events: {} as LifecycleActivityDeps['events'],
      snapshots: {} as LifecycleActivityDeps['snapshots'],
      place: () => ({ placed: false, reason: 'unused', etaS: 1 }),
      gpuScheduler: new GpuSchedulerClient(baseUrl),
      gpuCheckpoint: (hostId: string) => checkpointHosts.has(hostId),
      ...over,
    }) as LifecycleActivityDeps;
  const ask = (kernelId: string, over: Record<string, unknown> = {}) => ({
    requestId: `${kernelId}.gpu-1`,
    kernelId,
    tenant: 'org-gpu',
    userId: 'u-ada',
    gpuType: 'h100-80gb',
    profile: 'full',
    allowCpuFallback: false,
    idleHibernateAfterMs: 300_000,
    ...over,
  });

  beforeAll(async () => {
    await new Promise<void>((r) => scheduler.server.listen(0, '127.0.0.1', () => r()));
    baseUrl = `http://127.0.0.1:${(scheduler.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => scheduler.server.close(r));
  });

  it('allocates, queues the next with position and ETA, is idempotent, and hands over on release', async () => {
    const acts = createLifecycleActivities(deps());
    const k1 = `k-${uuidv7()}`;
    const k2 = `k-${uuidv7()}`;
    const first = await acts.requestGpu(ask(k1));
    expect(first).toMatchObject({
      phase: 'allocated',
      allocation: { hostId: 'h-gpu-1', visibleDevice: '0', slice: null },
      cudaCheckpoint: false,
    });
    const second = await acts.requestGpu(ask(k2));
    expect(second).toMatchObject({ phase: 'queued', position: 1, etaS: 300, allocation: null });

    // Asking again (a retried activity, a workflow poll) changes nothing.
    const posts = scheduler.posts;
    expect(await acts.requestGpu(ask(k2))).toMatchObject({ phase: 'queued', position: 1 });
    expect(scheduler.posts).toBe(posts + 1);
    expect(scheduler.queue).toEqual([`${k2}.gpu-1`]);

    const released = await acts.releaseGpu({
      requestId: `${k1}.gpu-1`,
      reason: 'hibernated',
      detail: 'snapshot s-1',
    });
    expect(released).toMatchObject({ phase: 'released', reason: 'hibernated' });
    // Releasing twice is a no-op.
    expect(await acts.releaseGpu({ requestId: `${k1}.gpu-1`, reason: 'died' })).toMatchObject({
      reason: 'hibernated',
    });
    checkpointHosts.add('h-gpu-1');
    expect(await acts.requestGpu(ask(k2))).toMatchObject({
      phase: 'allocated',
      position: null,
      cudaCheckpoint: true,
    });
    checkpointHosts.clear();
    await acts.releaseGpu({ requestId: `${k2}.gpu-1`, reason: 'terminated' });
    expect(scheduler.holder).toBeNull();
  });

  it('turns the scheduler’s refusals into non-retryable failures with the contract’s code', async () => {
    const acts = createLifecycleActivities(deps());
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => {
          throw new Error('expected a refusal');
        },
        (err: unknown) => err as ApplicationFailure,
      );
    const quota = await refusal(acts.requestGpu(ask(`k-${uuidv7()}`, { tenant: 'org-over-quota' })));
    expect(quota).toBeInstanceOf(ApplicationFailure);
    expect(quota).toMatchObject({ type: 'gpu.quota_exceeded', nonRetryable: true });
    expect(quota.message).toMatch(/no H100 left/);
    const unknown = await refusal(acts.requestGpu(ask(`k-${uuidv7()}`, { gpuType: 'v100-16gb' })));
    expect(unknown).toMatchObject({ type: 'gpu.unknown_type', nonRetryable: true });
    const missing = await refusal(acts.releaseGpu({ requestId: `k-${uuidv7()}.gpu-1`, reason: 'died' }));
    expect(String(missing.message)).toMatch(/gpu.request_not_found/);
  });

  it('rejects bad input before it leaves, and says so when no scheduler is configured', async () => {
    const acts = createLifecycleActivities(deps());
    const posts = scheduler.posts;
    await expect(acts.requestGpu(ask(`k-${uuidv7()}`, { profile: 'half' }))).rejects.toMatchObject({
      type: 'validation.failed',
      nonRetryable: true,
      message: expect.stringMatching(/profile/),
    });
    expect(scheduler.posts).toBe(posts);
    expect(() => new GpuSchedulerClient('scheduler:8080')).toThrow(/QUIRE_GPU_SCHEDULER_URL/);

    const none = createLifecycleActivities(deps({ gpuScheduler: undefined }));
    await expect(none.requestGpu(ask(`k-${uuidv7()}`))).rejects.toMatchObject({
      type: 'gpu.scheduler_not_configured',
      message: expect.stringMatching(/QUIRE_GPU_SCHEDULER_URL/),
    });
  });
});
