import { GATEWAY_ROUTES, uuidv7, type AuthResponse, type GpuOfferDto } from '@quire/contracts';
import { FakeService, gpuOffer, json, problem } from './support/fake-internal-services';
import {
  api,
  bootGateway,
  joinOrg,
  signup,
  startDocSync,
  type GatewayUnderTest,
  type ServiceProcess,
} from './support/harness';

jest.setTimeout(120_000);

const INTERNAL_TOKEN = `it-internal-${uuidv7()}`;

/**
 * GET /api/gpu/offer against a fake gpu-scheduler (real HTTP on
 * 127.0.0.1:0) with the real gateway: any org member may read it, the tenant
 * is always the caller's org, and a missing scheduler is a clear 503.
 */
describe('gateway GPU offer', () => {
  let docSync: ServiceProcess;
  let gw: GatewayUnderTest;
  let admin: AuthResponse;
  let member: AuthResponse;
  let other: AuthResponse;

  const scheduler = new FakeService(INTERNAL_TOKEN, (r, res) => {
    const url = new URL(r.url, 'http://x');
    if (url.pathname !== '/api/gpu/offer') return problem(res, 404, 'not_found', r.url);
    const tenant = url.searchParams.get('tenant');
    if (!tenant) return problem(res, 400, 'validation.failed', 'tenant is required');
    return json(res, 200, gpuOffer(tenant));
  });

  beforeAll(async () => {
    await scheduler.start();
    docSync = await startDocSync();
    gw = await bootGateway({
      QUIRE_DOC_SYNC_URL: docSync.base,
      QUIRE_KERNEL_PROVIDER: 'direct',
      QUIRE_HOST_WORKER_URL: 'http://127.0.0.1:9',
      QUIRE_AGENT_URL: 'http://127.0.0.1:9',
      QUIRE_INTERNAL_TOKEN: INTERNAL_TOKEN,
      QUIRE_GPU_SCHEDULER_URL: scheduler.base,
    });
    admin = await signup(gw.base, 'gpu-admin', `GPU Org ${uuidv7()}`);
    member = await joinOrg(gw.base, admin.token, 'gpu-member');
    other = await signup(gw.base, 'gpu-other', `GPU Other ${uuidv7()}`);
  });

  afterAll(async () => {
    await gw?.close();
    await docSync?.stop();
    await scheduler.stop();
  });

  const offer = (token?: string, query = '') =>
    api<GpuOfferDto & { code?: string; detail?: string }>(
      gw.base,
      'GET',
      `${GATEWAY_ROUTES.gpuOffer}${query}`,
      {
        ...(token ? { token } : {}),
      },
    );

  it("a member reads their org's offer; the scheduler is asked for the caller's org with the internal token", async () => {
    const before = scheduler.received.length;
    const res = await offer(member.token);
    expect(res.status).toBe(200);
    expect(res.body.tenant).toBe(admin.org.id);
    expect(res.body.items.map((i) => `${i.gpuType}/${i.profile}`)).toEqual([
      'h100-80gb/full',
      'h100-80gb/1g.10gb',
    ]);
    expect(res.body.items[1]).toMatchObject({ runnable: false, note: expect.stringMatching(/MIG/) });
    const [call] = scheduler.received.slice(before);
    expect(call!.headers.authorization).toBe(`Bearer ${INTERNAL_TOKEN}`);
    expect(new URL(call!.url, 'http://x').searchParams.get('tenant')).toBe(admin.org.id);
  });

  it('a tenant in the query is ignored: nobody reads another org’s offer', async () => {
    const before = scheduler.received.length;
    const res = await offer(other.token, `?tenant=${encodeURIComponent(admin.org.id)}`);
    expect(res.status).toBe(200);
    expect(res.body.tenant).toBe(other.org.id);
    const [call] = scheduler.received.slice(before);
    expect(new URL(call!.url, 'http://x').searchParams.getAll('tenant')).toEqual([other.org.id]);
  });

  it('anonymous callers are 401 and never reach the scheduler', async () => {
    const before = scheduler.received.length;
    const res = await offer();
    expect(res.status).toBe(401);
    expect(scheduler.received.length).toBe(before);
  });

  it('scheduler down: 503 gpu.unavailable problem+json', async () => {
    await scheduler.stop();
    const res = await offer(member.token);
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('gpu.unavailable');
    expect(res.body.detail).toMatch(/GPU scheduler is not reachable/);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
  });
});
