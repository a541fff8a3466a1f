import { meterKernel, type KernelMeterParams } from './kernel-meter';
import type { HostLiveness } from './host-liveness';
import { HOUR_MS, type JournalEvent, type UsageMap } from './usage';

const T0 = Date.UTC(2025, 0, 10, 9, 0, 0);
let n = 0;
const ev = (type: string, t: number, data: Record<string, unknown>, tenant = 'acme'): JournalEvent => ({
  id: `0190${String(n++).padStart(8, '0')}`,
  type: `quire.${type}`,
  tenant,
  time: T0 + t,
  data: { kernelId: 'k1', notebookId: 'nb1', ...data },
});
const state = (t: number, from: string, to: string, hostId: string | null = 'h1') =>
  ev('kernel.KernelStateChanged', t, { from, to, hostId, tier: 'team', reason: '' });
const sandbox = (t: number, sandboxId: string, cpuQuota: number, memoryBytes: number, hostId = 'h1') =>
  ev('host.SandboxStarted', t, { hostId, sandboxId, limits: { cpuQuota, memoryBytes, pids: 1 } }, 'system');
const requested = (t: number, userId = 'ada') =>
  ev('kernel.KernelRequested', t, { userId, tier: 'team', gpuProfile: null });

const params = (watermark: number): KernelMeterParams => ({
  watermark: T0 + watermark,
  hostLossAfterMs: 10_000,
  tierDefaults: () => ({ millicores: 2000n, memoryBytes: 8n * 2n ** 30n }),
});
const alive = (lastHb: number, gaps: [number, number][] = []): Map<string, HostLiveness> =>
  new Map([
    ['h1', { lastHeartbeat: T0 + lastHb, gaps: gaps.map(([s, e]) => ({ start: T0 + s, end: T0 + e })) }],
  ]);

function totals(u: UsageMap): Record<string, string> {
  const out: Record<string, bigint> = {};
  for (const v of u.values()) {
    const k = `${v.dims.userId}|${v.dims.resource}`;
    out[k] = (out[k] ?? 0n) + v.base;
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.toString()]));
}

describe('meterKernel', () => {
  const GiB = 2 ** 30;

  it('bills RUNNING and IDLE with the sandbox size, cell time to its runner and the rest to the requester', () => {
    const events = [
      requested(-2000),
      sandbox(-1000, 'sb1', 1.5, 2 * GiB),
      state(0, 'PROVISION', 'RUNNING'),
      ev('exec.ExecuteStarted', 2000, { executionId: 'x1', cellId: 'c1', userId: 'bob', waitedMs: 0 }),
      ev('exec.ExecuteCompleted', 4500, {
        executionId: 'x1',
        userId: 'bob',
        status: 'ok',
        ms: 2500,
        executionCount: 1,
      }),
      state(10_000, 'RUNNING', 'IDLE'),
      state(15_000, 'IDLE', 'HIBERNATED', null),
    ];
    const r = meterKernel('k1', events, alive(60_000), params(60_000));
    expect(totals(r.usage)).toEqual({
      'bob|cpu': String(1500 * 2500),
      'bob|memory': String(2 * GiB * 2500),
      'ada|cpu': String(1500 * 12_500),
      'ada|memory': String(2 * GiB * 12_500),
    });
    const bob = [...r.usage.values()].find((v) => v.dims.userId === 'bob' && v.dims.resource === 'cpu')!;
    expect(bob.dims).toMatchObject({
      executionId: 'x1',
      cellId: 'c1',
      orgId: 'acme',
      sku: 'cpu/team',
      chargeTo: 'org',
    });
    expect(r.recheckAfterW).toBeNull();
  });

  it("keeps an agent's cell time the kernel's own (its requester), never the user the agent works for", () => {
    const run = (origin: 'human' | 'agent') => [
      requested(-2000),
      sandbox(-1000, 'sb1', 1, GiB),
      state(0, 'PROVISION', 'RUNNING'),
      ev('exec.ExecuteRequested', 1900, {
        executionId: 'x1',
        cellId: 'c1',
        userId: 'bob',
        origin,
        codeSha256: '0'.repeat(64),
        codeBytes: 1,
      }),
      ev('exec.ExecuteStarted', 2000, { executionId: 'x1', cellId: 'c1', userId: 'bob', waitedMs: 0 }),
      ev('exec.ExecuteCompleted', 4500, {
        executionId: 'x1',
        userId: 'bob',
        status: 'ok',
        ms: 2500,
        executionCount: 1,
      }),
      state(10_000, 'RUNNING', 'HIBERNATED', null),
    ];
    const human = meterKernel('k1', run('human'), alive(60_000), params(60_000));
    const agent = meterKernel('k1', run('agent'), alive(60_000), params(60_000));
    expect(totals(human.usage)).toMatchObject({ 'bob|cpu': String(1000 * 2500) });
    // The same allocation in total, all of it the requester's; the execution stays on the row.
    expect(totals(agent.usage)).toEqual({
      'ada|cpu': String(1000 * 10_000),
      'ada|memory': String(GiB * 10_000),
    });
    const cell = [...agent.usage.values()].find(
      (v) => v.dims.executionId === 'x1' && v.dims.resource === 'cpu',
    )!;
    expect(cell.dims).toMatchObject({ userId: 'ada', cellId: 'c1', chargeTo: 'org', agentRunId: null });
  });

  it('gives the same answer whatever order the events come in', () => {
    const events = [
      requested(-2000),
      sandbox(-1000, 'sb1', 2, GiB),
      state(0, 'PROVISION', 'RUNNING'),
      ev('exec.ExecuteStarted', 100, { executionId: 'x1', cellId: null, userId: 'cy', waitedMs: 0 }),
      ev('exec.ExecuteCompleted', 900, {
        executionId: 'x1',
        userId: 'cy',
        status: 'ok',
        ms: 800,
        executionCount: 1,
      }),
      state(5000, 'RUNNING', 'IDLE'),
      state(9000, 'IDLE', 'EVICTED', null),
    ];
    const a = totals(meterKernel('k1', events, alive(60_000), params(60_000)).usage);
    const b = totals(meterKernel('k1', [...events].reverse(), alive(60_000), params(60_000)).usage);
    expect(b).toEqual(a);
  });

  it('closes intervals at the last heartbeat when the host is lost, and bills nothing until the next state change', () => {
    const events = [
      requested(-2000),
      sandbox(-1000, 'sb1', 1, GiB),
      state(0, 'PROVISION', 'RUNNING'),
      ev('kernel.KernelDied', 40_000, { reason: 'host_lost', message: '', cellId: null }),
    ];
    // Heartbeats up to 20 s, then nothing until 60 s: a gap from 20 s.
    const r = meterKernel('k1', events, alive(60_000, [[20_000, 60_000]]), params(120_000));
    expect(totals(r.usage)).toEqual({ 'ada|cpu': String(1000 * 20_000), 'ada|memory': String(GiB * 20_000) });
  });

  it('closes an open interval at the last heartbeat once the watermark is past the loss threshold', () => {
    const events = [requested(-2000), sandbox(-1000, 'sb1', 1, GiB), state(0, 'PROVISION', 'RUNNING')];
    const before = meterKernel('k1', events, alive(30_000), params(35_000));
    // Open: billed up to the watermark, and to be looked at again when the watermark moves.
    expect(totals(before.usage)['ada|cpu']).toBe(String(1000 * 35_000));
    expect(before.recheckAfterW).toBe(T0 + 35_000);
    const after = meterKernel('k1', events, alive(30_000), params(45_000));
    expect(totals(after.usage)['ada|cpu']).toBe(String(1000 * 30_000));
  });

  it('stops at the exit of the current sandbox and resumes with the new one (an old sandbox’s exit is ignored)', () => {
    const events = [
      requested(-2000),
      sandbox(-1000, 'sb1', 1, GiB),
      state(0, 'PROVISION', 'RUNNING'),
      ev('host.SandboxExited', 4000, { hostId: 'h1', sandboxId: 'sb1', reason: 'crash' }, 'system'),
      sandbox(6000, 'sb2', 2, GiB),
      ev('host.SandboxExited', 7000, { hostId: 'h1', sandboxId: 'sb1', reason: 'crash' }, 'system'),
      state(10_000, 'RUNNING', 'EVICTED', null),
    ];
    const r = meterKernel('k1', events, alive(60_000), params(60_000));
    expect(totals(r.usage)['ada|cpu']).toBe(String(1000 * 4000 + 2000 * 4000));
  });

  it('splits at UTC hour boundaries without losing a millisecond', () => {
    const start = HOUR_MS - 1500; // 1.5 s before 10:00
    const events = [
      requested(start - 1000),
      sandbox(start - 500, 'sb1', 1, GiB),
      state(start, 'PROVISION', 'RUNNING'),
      state(start + 3000, 'RUNNING', 'EVICTED', null),
    ];
    const r = meterKernel('k1', events, alive(2 * HOUR_MS), params(2 * HOUR_MS));
    const cpu = [...r.usage.values()].filter((v) => v.dims.resource === 'cpu');
    expect(cpu.map((v) => [new Date(v.dims.periodStart).toISOString(), v.base.toString()])).toEqual([
      ['2025-01-10T09:00:00.000Z', '1500000'],
      ['2025-01-10T10:00:00.000Z', '1500000'],
    ]);
  });

  it('meters GPU slices per allocation and snapshot storage until eviction', () => {
    const events = [
      requested(-2000),
      sandbox(-1000, 'sb1', 1, GiB),
      state(0, 'PROVISION', 'RUNNING'),
      ev('gpu.GpuAllocated', 1000, {
        requestId: 'g1',
        hostId: 'h1',
        gpuType: 'a100',
        device: 'd0',
        slice: '1g.10gb',
      }),
      ev('gpu.GpuReleased', 8000, { requestId: 'g1', device: 'd0', slice: '1g.10gb', reason: 'hibernated' }),
      ev(
        'host.SnapshotTaken',
        9000,
        {
          hostId: 'h1',
          sandboxId: 'sb1',
          snapshotId: 's1',
          bytes: 1000,
          ms: 1,
          residentBytes: 1,
          location: 'x',
          trigger: 'hibernate',
        },
        'system',
      ),
      state(10_000, 'RUNNING', 'HIBERNATED', null),
      ev(
        'host.SnapshotTaken',
        20_000,
        {
          hostId: 'h1',
          sandboxId: 'sb1',
          snapshotId: 's2',
          bytes: 3000,
          ms: 1,
          residentBytes: 1,
          location: 'x',
          trigger: 'background',
        },
        'system',
      ),
      ev('kernel.KernelEvicted', 50_000, { snapshotId: 's2', idleForS: 40 }),
    ];
    const r = meterKernel('k1', events, alive(90_000), params(90_000));
    const t = totals(r.usage);
    expect(t['ada|gpu']).toBe('7000');
    expect(t['ada|snapshot-storage']).toBe(String(1000 * 11_000 + 3000 * 30_000));
    expect([...r.usage.values()].find((v) => v.dims.resource === 'gpu')!.dims.sku).toBe('gpu/a100/1g.10gb');
  });

  it('uses the tier default size when no sandbox was reported, and waits for the org', () => {
    const events = [state(0, 'PROVISION', 'RUNNING', null), state(1000, 'RUNNING', 'EVICTED', null)];
    expect(totals(meterKernel('k1', events, new Map(), params(5000)).usage)).toEqual({
      'null|cpu': '2000000',
      'null|memory': String(8 * GiB * 1000),
    });
    const hostOnly = [sandbox(0, 'sb1', 1, GiB)];
    expect(meterKernel('k1', hostOnly, new Map(), params(5000)).usage.size).toBe(0);
  });
});
