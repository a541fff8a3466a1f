import { uuidv7, type GpuInventoryDto, type GpuOfferDto, type GpuRequestState } from '@quire/contracts';
import { stopServiceProcess, type ServiceProcess } from '@quire/service-kit';
import type { Kafka, Producer } from 'kafkajs';
import {
  ask,
  call,
  FakeGpuHost,
  GpuEventLog,
  hostEvents,
  kafka,
  publishKernelState,
  startScheduler,
  until,
  wholeGpu,
  type Problem,
} from './support';

/**
 * The gpu-scheduler as a process on real PostgreSQL and Kafka: hosts that
 * the test defines advertise GPUs in HostHeartbeat events; the scheduler
 * builds its inventory from them, allocates whole GPUs and MIG slices,
 * queues with a position and an ETA, releases (by request, by the kernel's
 * lifecycle, by host loss), and reports every decision on gpu.v1.
 */
jest.setTimeout(180_000);

const run = uuidv7()
  .slice(-10)
  .replace(/[^a-z0-9]/g, '');
const schema = `gpu_it_${run}`;
const fleet = `fleet-${run}`;
const tenant = (n: string) => `org-${n}-${run}`;

describe('gpu-scheduler on real PostgreSQL and Kafka', () => {
  let k: Kafka;
  let producer: Producer;
  let scheduler: ServiceProcess;
  let base: string;
  let log: GpuEventLog;
  const hosts: FakeGpuHost[] = [];

  beforeAll(async () => {
    k = kafka();
    const he = await hostEvents(k);
    producer = he.producer;
    log = new GpuEventLog(k, (e) => e.tenant.endsWith(run));
    await log.start();
    scheduler = await startScheduler(`gpu-scheduler-${run}`, {
      schema,
      fleet,
      QUIRE_GPU_HOST_LOSS_AFTER_MS: 4000,
      QUIRE_GPU_DECIDE_INTERVAL_MS: 300,
    });
    base = scheduler.url;
    hosts.push(
      new FakeGpuHost(he.events, `gpu-a-${run}`, fleet, [
        wholeGpu(`GPU-a0-${run}`, 0),
        wholeGpu(`GPU-a1-${run}`, 1),
      ]),
      new FakeGpuHost(he.events, `gpu-b-${run}`, fleet, [
        wholeGpu(`GPU-b0-${run}`, 0, {
          migMode: 'enabled',
          migInstances: [{ profile: '3g.40gb', start: 4, size: 4, uuid: `MIG-b0-3g-${run}` }],
          sandbox: { wholeGpu: false, migSlices: true },
        }),
      ]),
      new FakeGpuHost(he.events, `gpu-c-${run}`, fleet, [
        wholeGpu(`GPU-c0-${run}`, 0, {
          model: 'Tesla T4',
          gpuType: 't4-16gb',
          memoryBytes: 16 * 1024 ** 3,
          driverVersion: '470.82.01',
          sandbox: {
            wholeGpu: false,
            migSlices: false,
            reason: 'driver 470.82.01 is not one nvproxy supports',
          },
        }),
      ]),
      // Another fleet's host: never in this scheduler's inventory.
      new FakeGpuHost(he.events, `gpu-x-${run}`, `other-${run}`, [wholeGpu(`GPU-x0-${run}`, 0)]),
    );
    for (const h of hosts) await h.start();
    await until('the inventory to hold the fleet', async () => {
      const inv = await call<GpuInventoryDto>(base, 'GET', '/internal/gpu/inventory');
      return inv.body.gpus.length === 4 && inv.body;
    });
  });

  afterAll(async () => {
    for (const h of hosts) h.stop();
    await log?.stop();
    await producer?.disconnect();
    if (scheduler) await stopServiceProcess(scheduler);
  });

  const req = (
    id: string,
    t: string,
    gpuType: string,
    profile: string,
    extra: Record<string, unknown> = {},
  ) => ({
    requestId: `${id}-${run}`,
    kernelId: `k-${id}-${run}`,
    tenant: t,
    userId: `u-${id}`,
    gpuType,
    profile,
    ...extra,
  });

  it("builds its inventory from its own fleet's heartbeats and offers what a sandbox can run", async () => {
    const inv = (await call<GpuInventoryDto>(base, 'GET', '/internal/gpu/inventory')).body;
    expect(inv.gpus.map((g) => g.uuid).sort()).toEqual(
      [`GPU-a0-${run}`, `GPU-a1-${run}`, `GPU-b0-${run}`, `GPU-c0-${run}`].sort(),
    );
    expect(inv.gpus.find((g) => g.uuid === `GPU-b0-${run}`)!.parts).toEqual([
      { profile: '3g.40gb', start: 4, size: 4, requestId: null, kernelId: null },
    ]);
    const offer = (await call<GpuOfferDto>(base, 'GET', `/api/gpu/offer?tenant=${tenant('a')}`)).body;
    const item = (t: string, p: string) => offer.items.find((i) => i.gpuType === t && i.profile === p);
    expect(item('h100-80gb', 'full')).toMatchObject({ free: 2, runnable: true, label: 'H100 80GB' });
    // 3g at slot 4 exists; a 4g fits at 0 beside it; a 7g only by re-layout of the idle GPU.
    expect(item('h100-80gb', '3g.40gb')).toMatchObject({
      runnable: true,
      label: '3g.40gb slice of an H100 80GB',
    });
    expect(item('h100-80gb', '3g.40gb')!.free).toBeGreaterThanOrEqual(1);
    expect(item('t4-16gb', 'full')).toMatchObject({ runnable: false, free: 0 });
    expect(item('t4-16gb', 'full')!.note).toMatch(/470\.82\.01/);
  });

  it('allocates, queues the next with position and ETA, and hands the GPU on at release', async () => {
    const first = await ask(
      base,
      req('w1', tenant('a'), 'h100-80gb', 'full', { idleHibernateAfterMs: 60_000 }),
    );
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ phase: 'allocated', position: null });
    expect(first.body.allocation).toMatchObject({ hostId: `gpu-a-${run}`, slice: null, startSlot: null });
    expect(['0', '1']).toContain(first.body.allocation!.visibleDevice);
    // Asking again (a retried activity) is the same answer.
    const again = await ask(
      base,
      req('w1', tenant('a'), 'h100-80gb', 'full', { idleHibernateAfterMs: 60_000 }),
    );
    expect(again.body.allocation).toEqual(first.body.allocation);

    const second = await ask(
      base,
      req('w2', tenant('b'), 'h100-80gb', 'full', { idleHibernateAfterMs: 60_000 }),
    );
    expect(second.body.phase).toBe('allocated');
    expect(second.body.allocation!.device).not.toBe(first.body.allocation!.device);

    // The pool is full: the third waits, first in line, with an ETA from the running allocations.
    const third = await ask(
      base,
      req('w3', tenant('c'), 'h100-80gb', 'full', { idleHibernateAfterMs: 60_000 }),
    );
    expect(third.body).toMatchObject({ phase: 'queued', position: 1, allocation: null });
    // Both holders are busy (no IDLE seen): at least one idle period away.
    expect(third.body.etaS).toBeGreaterThanOrEqual(59);
    const fourth = await ask(
      base,
      req('w4', tenant('d'), 'h100-80gb', 'full', { idleHibernateAfterMs: 60_000 }),
    );
    expect(fourth.body).toMatchObject({ phase: 'queued', position: 2 });
    expect(fourth.body.etaS!).toBeGreaterThanOrEqual(third.body.etaS!);

    // The first kernel goes idle: the ETA follows its idle deadline (≈ 60 s from now, not more).
    await publishKernelState(producer, `k-w1-${run}`, tenant('a'), 'RUNNING', 'IDLE');
    await until('the ETA to follow the idle deadline', async () => {
      const s = (await call<GpuRequestState>(base, 'GET', `/internal/gpu/requests/w3-${run}`)).body;
      return s.etaS !== null && s.etaS <= 60 && s;
    });

    const released = await call<GpuRequestState>(base, 'POST', `/internal/gpu/requests/w1-${run}/release`, {
      reason: 'hibernated',
    });
    expect(released.body.phase).toBe('released');
    // Release is idempotent.
    expect(
      (
        await call<GpuRequestState>(base, 'POST', `/internal/gpu/requests/w1-${run}/release`, {
          reason: 'hibernated',
        })
      ).body.phase,
    ).toBe('released');
    const granted = (await call<GpuRequestState>(base, 'GET', `/internal/gpu/requests/w3-${run}`)).body;
    expect(granted.phase).toBe('allocated');
    expect(granted.allocation!.device).toBe(first.body.allocation!.device);
    const fourthNow = (await call<GpuRequestState>(base, 'GET', `/internal/gpu/requests/w4-${run}`)).body;
    expect(fourthNow).toMatchObject({ phase: 'queued', position: 1 });

    // A queued request may leave the queue.
    expect(
      (
        await call<GpuRequestState>(base, 'POST', `/internal/gpu/requests/w4-${run}/release`, {
          reason: 'terminated',
        })
      ).body.phase,
    ).toBe('released');

    // gpu.v1 says exactly that, with the allocation's own times.
    await until(
      'gpu.v1 to carry the decisions',
      async () =>
        log
          .of(`w3-${run}`)
          .map((e) => e.type.split('.').pop())
          .join() === 'GpuRequested,GpuQueued,GpuAllocated',
    );
    expect(log.of(`w3-${run}`)[1]!.data).toMatchObject({ position: 1 });
    const rel = log.of(`w1-${run}`).find((e) => e.type.endsWith('GpuReleased'))!;
    expect(rel.data).toMatchObject({ reason: 'hibernated', device: first.body.allocation!.device });
    expect(log.of(`w1-${run}`).filter((e) => e.type.endsWith('GpuReleased'))).toHaveLength(1);
    const alloc = log.of(`w3-${run}`).find((e) => e.type.endsWith('GpuAllocated'))!;
    expect(alloc.time).toBe(granted.allocation!.allocatedAt);

    // Its kernel hibernating (the lifecycle's event) releases what it still holds: the net under a lost release.
    await publishKernelState(producer, `k-w2-${run}`, tenant('b'), 'IDLE', 'HIBERNATED');
    await until("the hibernated kernel's GPU to be released", async () => {
      const s = (await call<GpuRequestState>(base, 'GET', `/internal/gpu/requests/w2-${run}`)).body;
      return s.phase === 'released' && s;
    });
    await call(base, 'POST', `/internal/gpu/requests/w3-${run}/release`, { reason: 'terminated' });
  });

  it('places MIG slices on an existing instance first, then beside it, and queues what NVIDIA would refuse', async () => {
    const g3 = await ask(base, req('m3g', tenant('m'), 'h100-80gb', '3g.40gb'));
    expect(g3.body.allocation).toMatchObject({
      device: `GPU-b0-${run}`,
      slice: '3g.40gb',
      startSlot: 4,
      visibleDevice: `MIG-b0-3g-${run}`,
    });
    const g4 = await ask(base, req('m4g', tenant('m'), 'h100-80gb', '4g.40gb'));
    expect(g4.body.allocation).toMatchObject({ device: `GPU-b0-${run}`, slice: '4g.40gb', startSlot: 0 });
    // 3 + 4 compute slices: a 1g would make 8 (NVIDIA allows 7), so it waits.
    const g1 = await ask(base, req('m1g', tenant('n'), 'h100-80gb', '1g.10gb'));
    expect(g1.body).toMatchObject({ phase: 'queued', position: 1 });
    await call(base, 'POST', `/internal/gpu/requests/m4g-${run}/release`, { reason: 'terminated' });
    const g1Now = (await call<GpuRequestState>(base, 'GET', `/internal/gpu/requests/m1g-${run}`)).body;
    expect(g1Now.phase).toBe('allocated');
    expect(g1Now.allocation!.startSlot).toBeLessThan(4);
    const inv = (await call<GpuInventoryDto>(base, 'GET', '/internal/gpu/inventory')).body;
    const parts = inv.gpus.find((g) => g.uuid === `GPU-b0-${run}`)!.parts;
    expect(
      parts
        .filter((p) => p.requestId)
        .map((p) => p.profile)
        .sort(),
    ).toEqual(['1g.10gb', '3g.40gb']);
    for (const id of ['m3g', 'm1g'])
      await call(base, 'POST', `/internal/gpu/requests/${id}-${run}/release`, { reason: 'terminated' });
  });

  it('refuses what cannot run, honours the quota, and never downgrades unless asked', async () => {
    const t4 = await ask(base, req('t4', tenant('t'), 't4-16gb', 'full'));
    expect(t4.body.phase).toBe('rejected');
    expect(t4.body.reason).toMatch(/470\.82\.01/);
    const t4cpu = await ask(base, req('t4cpu', tenant('t'), 't4-16gb', 'full', { allowCpuFallback: true }));
    expect(t4cpu.body.phase).toBe('cpu_fallback');

    await call(base, 'PUT', `/internal/gpu/quotas/${tenant('q')}`, { maxSlots: 4 });
    const big = await ask(base, req('q-full', tenant('q'), 'h100-80gb', 'full'));
    expect(big.body.phase).toBe('rejected');
    expect(big.body.reason).toMatch(/quota is 4 memory slots/);
    await call(base, 'PUT', `/internal/gpu/quotas/${tenant('q')}`, { maxSlots: 8 });
    const one = await ask(base, req('q-1', tenant('q'), 'h100-80gb', 'full'));
    expect(one.body.phase).toBe('allocated');
    // A second whole GPU would pass the quota: it waits (with words saying why) though a GPU is free.
    const two = await ask(base, req('q-2', tenant('q'), 'h100-80gb', 'full'));
    expect(two.body.phase).toBe('queued');
    expect(two.body.reason).toMatch(/quota: 8 of 8 memory slots/);
    // …and does not hold back another tenant behind it.
    const other = await ask(base, req('q-other', tenant('r'), 'h100-80gb', 'full'));
    expect(other.body.phase).toBe('allocated');
    for (const id of ['q-1', 'q-2', 'q-other'])
      await call(base, 'POST', `/internal/gpu/requests/${id}-${run}/release`, { reason: 'terminated' });
  });

  it('answers bad input with a clear error and records nothing', async () => {
    const before = (await call<GpuInventoryDto>(base, 'GET', '/internal/gpu/inventory')).body.queue.length;
    const unknown = await call<Problem>(
      base,
      'POST',
      '/internal/gpu/requests',
      req('bad1', tenant('x'), 'z9000-1gb', 'full'),
    );
    expect(unknown).toMatchObject({ status: 400, body: { code: 'gpu.unknown_type' } });
    const profile = await call<Problem>(
      base,
      'POST',
      '/internal/gpu/requests',
      req('bad2', tenant('x'), 'h100-80gb', '5g.50gb'),
    );
    expect(profile).toMatchObject({ status: 400, body: { code: 'gpu.profile_not_offered' } });
    const garbage = await call<Problem>(
      base,
      'POST',
      '/internal/gpu/requests',
      '{"requestId": 7, "gpuType": null',
    );
    expect(garbage.status).toBe(400);
    const missing = await call<Problem>(base, 'POST', '/internal/gpu/requests', { requestId: 'only-this' });
    expect(missing).toMatchObject({ status: 400, body: { code: 'validation.failed' } });
    expect(missing.body.detail).toMatch(/kernelId/);
    const badRelease = await call<Problem>(base, 'POST', `/internal/gpu/requests/nope-${run}/release`, {
      reason: 'x',
    });
    expect(badRelease.status).toBe(400);
    expect((await call<Problem>(base, 'GET', `/internal/gpu/requests/nope-${run}`)).body.code).toBe(
      'gpu.request_not_found',
    );
    for (const id of ['bad1', 'bad2', 'only-this'])
      expect((await call<Problem>(base, 'GET', `/internal/gpu/requests/${id}-${run}`)).status).toBe(404);
    expect((await call<GpuInventoryDto>(base, 'GET', '/internal/gpu/inventory')).body.queue.length).toBe(
      before,
    );
  });

  it('releases the allocations of a host that stops beating (died, host lost) and offers its GPUs no more', async () => {
    const a = await ask(base, req('lost', tenant('l'), 'h100-80gb', 'full'));
    expect(a.body.allocation!.hostId).toBe(`gpu-a-${run}`);
    hosts[0]!.stop();
    const s = await until(
      "the lost host's allocation to be released",
      async () => {
        const st = (await call<GpuRequestState>(base, 'GET', `/internal/gpu/requests/lost-${run}`)).body;
        return st.phase === 'released' && st;
      },
      20_000,
    );
    expect(s.reason).toMatch(new RegExp(`host gpu-a-${run} lost`));
    await until('gpu.v1 to say died', async () =>
      log
        .of(`lost-${run}`)
        .some((e) => e.type.endsWith('GpuReleased') && (e.data as { reason: string }).reason === 'died'),
    );
    const offer = (await call<GpuOfferDto>(base, 'GET', `/api/gpu/offer?tenant=${tenant('l')}`)).body;
    expect(offer.items.find((i) => i.gpuType === 'h100-80gb' && i.profile === 'full')).toBeUndefined();
    // Back again: its GPUs serve again.
    await hosts[0]!.start();
    await until('the host to serve again', async () => {
      const o = (await call<GpuOfferDto>(base, 'GET', `/api/gpu/offer?tenant=${tenant('l')}`)).body;
      return o.items.find((i) => i.gpuType === 'h100-80gb' && i.profile === 'full')?.free === 2;
    });
  });
});
