import {
  createEvent,
  HostHeartbeat,
  SandboxExited,
  SandboxStarted,
  SnapshotRestored,
} from '@quire/contracts';
import { HostRegistry } from './host-registry';
import { Placer } from './placer';
import { warmPoolTarget } from './warm-pool-sizing';
import type { PlaceRequest } from '../workflows/lifecycle-activities';

const GiB = 1024 ** 3;
let now = Date.parse('2026-01-01T00:00:00Z');
const clock = () => now;

function beat(hostId: string, freeGiB: number, labels: Record<string, string> = {}, seq = 1, at = now) {
  return createEvent(HostHeartbeat, {
    source: 'host-worker/test',
    subject: hostId,
    tenant: 'system',
    time: new Date(at),
    data: {
      hostId,
      seq,
      capacity: { cpuCores: 8, memoryBytes: 32 * GiB },
      free: { cpuCores: 8, memoryBytes: freeGiB * GiB },
      sandboxes: 0,
      warmPool: { ready: 1, target: 2 },
      labels,
      apiUrl: `http://${hostId}.internal:8092`,
    },
  });
}

const req = (over: Partial<PlaceRequest> = {}): PlaceRequest => ({
  kernelId: 'k1',
  tenant: 'org-a',
  tier: 'team',
  labels: {},
  memoryBytes: 2 * GiB,
  excludeHosts: [],
  preferHost: null,
  creation: true,
  creationsPerMinute: 60,
  ...over,
});

describe('placement from the host registry', () => {
  let registry: HostRegistry;
  let placer: Placer;
  beforeEach(() => {
    registry = new HostRegistry(10_000, clock);
    placer = new Placer(
      registry,
      { minHeadroom: 0.2, queueEtaS: 30, creationsPerTenantPerMinute: 60 },
      clock,
    );
  });

  it('picks the live host with the most free memory, counting placements not yet in a heartbeat', () => {
    registry.apply(beat('h1', 20));
    registry.apply(beat('h2', 18));
    expect(placer.place(req())).toEqual({ placed: true, hostId: 'h1', apiUrl: 'http://h1.internal:8092' });
    // h1 now has 18 GiB promised-free, h2 18: the tie goes by CPU, then the second placement spreads.
    expect(placer.place(req({ kernelId: 'k2', memoryBytes: 4 * GiB }))).toMatchObject({ hostId: 'h1' });
    expect(placer.place(req({ kernelId: 'k3' }))).toMatchObject({ hostId: 'h2' });
  });

  it('respects labels (data residency) and excluded hosts', () => {
    registry.apply(beat('eu-1', 10, { region: 'eu' }));
    registry.apply(beat('us-1', 30, { region: 'us' }));
    expect(placer.place(req({ labels: { region: 'eu' } }))).toMatchObject({ hostId: 'eu-1' });
    expect(placer.place(req({ labels: { region: 'eu' }, excludeHosts: ['eu-1'] }))).toMatchObject({
      placed: false,
      reason: 'no live host with labels region=eu',
    });
  });

  it('places a GPU kernel only on its GPU’s host (requireHost), even when others have more room', () => {
    registry.apply(beat('gpu-1', 6));
    registry.apply(beat('cpu-1', 30));
    // 12.5 % headroom would queue a CPU kernel; the GPU kernel was admitted by the scheduler.
    expect(placer.place(req({ requireHost: 'gpu-1', memoryBytes: 2 * GiB }))).toMatchObject({
      placed: true,
      hostId: 'gpu-1',
    });
    expect(placer.place(req({ kernelId: 'k3', memoryBytes: 2 * GiB }))).toMatchObject({ hostId: 'cpu-1' });
    // It must still fit in memory.
    expect(placer.place(req({ kernelId: 'k4', requireHost: 'gpu-1', memoryBytes: 8 * GiB }))).toMatchObject({
      placed: false,
      reason: 'no host has enough free memory',
    });
    expect(placer.place(req({ kernelId: 'k2', requireHost: 'gpu-9' }))).toEqual({
      placed: false,
      reason: 'the GPU’s host gpu-9 is not live'.replace('’', "'"),
      etaS: 30,
    });
  });

  it('knows from heartbeats which GPUs keep their memory across hibernation (unknown: no)', () => {
    const hb = beat('gpu-2', 20);
    registry.apply({
      ...hb,
      // Only the fields the registry reads (HostGpu has many more).
      data: { ...hb.data, gpus: [{ uuid: 'GPU-keeps', cudaCheckpoint: true }, { uuid: 'GPU-loses' }] },
    });
    expect(registry.gpuCheckpoint('gpu-2', 'GPU-keeps')).toBe(true);
    expect(registry.gpuCheckpoint('gpu-2', 'GPU-loses')).toBe(false);
    expect(registry.gpuCheckpoint('gpu-2', 'GPU-other')).toBe(false);
    expect(registry.gpuCheckpoint('nowhere', 'GPU-keeps')).toBe(false);
  });

  it('never places on a host whose heartbeat is older than the lost threshold', () => {
    registry.apply(beat('h1', 20, {}, 1, now - 11_000));
    expect(placer.place(req())).toMatchObject({ placed: false, reason: 'no live host' });
  });

  it('queues new kernels with an ETA below 20% headroom, but lets restores through', () => {
    registry.apply(beat('h1', 8)); // 8 of 32 GiB free = 25%
    expect(placer.place(req({ memoryBytes: 2 * GiB }))).toMatchObject({
      placed: false,
      reason: 'capacity below 20% headroom',
      etaS: 30,
    });
    expect(placer.place(req({ creation: false, memoryBytes: 2 * GiB }))).toMatchObject({ placed: true });
  });

  it('rate-limits kernel creation per tenant, with the time until the next token as ETA', () => {
    registry.apply(beat('h1', 30));
    for (let i = 0; i < 3; i++)
      expect(placer.place(req({ kernelId: `k${i}`, memoryBytes: 1, creationsPerMinute: 3 }))).toMatchObject({
        placed: true,
      });
    expect(placer.place(req({ kernelId: 'k9', memoryBytes: 1, creationsPerMinute: 3 }))).toEqual({
      placed: false,
      reason: 'tenant org-a is over its kernel-creation rate',
      etaS: 20,
    });
    expect(placer.place(req({ tenant: 'org-b', memoryBytes: 1, creationsPerMinute: 3 }))).toMatchObject({
      placed: true,
    });
    now += 20_000;
    registry.apply(beat('h1', 30, {}, 2));
    expect(placer.place(req({ kernelId: 'k9', memoryBytes: 1, creationsPerMinute: 3 }))).toMatchObject({
      placed: true,
    });
  });
});

describe('host registry: kernels per host and host loss', () => {
  const ev = <D extends typeof SandboxStarted | typeof SandboxExited | typeof SnapshotRestored>(
    def: D,
    data: Parameters<typeof createEvent<D>>[1]['data'],
  ) =>
    createEvent(def, { source: 'host-worker/test', subject: 'h', tenant: 'org', time: new Date(now), data });

  it('tracks where each kernel lives and reports a silent host once, with its kernels', () => {
    const registry = new HostRegistry(10_000, clock);
    registry.apply(beat('h1', 20));
    registry.apply(beat('h2', 20));
    const limits = { memoryBytes: GiB, cpuQuota: 1, pids: 100 };
    registry.apply(
      ev(SandboxStarted, {
        hostId: 'h1',
        sandboxId: 's1',
        kernelId: 'k1',
        runtime: 'gvisor',
        fromWarmPool: false,
        bootMs: 1,
        limits,
      }),
    );
    registry.apply(
      ev(SandboxStarted, {
        hostId: 'h1',
        sandboxId: 's2',
        kernelId: 'k2',
        runtime: 'gvisor',
        fromWarmPool: true,
        bootMs: 1,
        limits,
      }),
    );
    registry.apply(
      ev(SnapshotRestored, { hostId: 'h2', sandboxId: 's2', kernelId: 'k2', snapshotId: 'x', ms: 1 }),
    );
    registry.apply(
      ev(SandboxStarted, {
        hostId: 'h1',
        sandboxId: 's3',
        kernelId: 'k3',
        runtime: 'gvisor',
        fromWarmPool: false,
        bootMs: 1,
        limits,
      }),
    );
    registry.apply(
      ev(SandboxExited, {
        hostId: 'h1',
        sandboxId: 's3',
        kernelId: 'k3',
        reason: 'oom',
        exitCode: null,
        signal: null,
        message: 'oom',
      }),
    );
    expect(registry.detectLost()).toEqual([]);
    now += 5_000;
    registry.apply(beat('h2', 20, {}, 2));
    now += 6_000; // h1 silent 11 s, h2 6 s
    const lost = registry.detectLost();
    expect(lost).toEqual([expect.objectContaining({ hostId: 'h1', lastSeq: 1, kernels: ['k1'] })]);
    expect(registry.detectLost()).toEqual([]); // once per silence
  });

  it('a replay of old heartbeats does not declare long-gone hosts lost', () => {
    const registry = new HostRegistry(10_000, clock);
    registry.apply(beat('old', 20, {}, 5, now - 3_600_000));
    expect(registry.detectLost()).toEqual([]);
    expect(registry.aliveHosts()).toEqual([]);
  });
});

describe('warm pool size from the trailing new-kernel rate', () => {
  const t = Date.parse('2026-01-01T12:00:00Z');
  it('P95 of per-minute creations over 30 min × headroom, clamped', () => {
    // 20 per minute in 2 of the last 30 minutes, 2 per minute in the others: P95 = 20 → 30.
    const creations: number[] = [];
    for (let m = 0; m < 30; m++)
      for (let i = 0; i < (m < 2 ? 20 : 2); i++) creations.push(t - m * 60_000 - 1000 - i);
    expect(warmPoolTarget(creations, t, { windowMs: 30 * 60_000, headroom: 1.5, min: 1, max: 64 })).toBe(30);
    expect(warmPoolTarget(creations, t, { windowMs: 30 * 60_000, headroom: 1.5, min: 1, max: 16 })).toBe(16);
  });
  it('a quiet host keeps the floor; creations older than the window do not count', () => {
    expect(warmPoolTarget([], t)).toBe(1);
    expect(warmPoolTarget([t - 31 * 60_000, t - 40 * 60_000], t)).toBe(1);
    // 3 per minute steadily: P95 = 3 → ceil(4.5) = 5.
    const steady = Array.from({ length: 90 }, (_, i) => t - Math.floor(i / 3) * 60_000 - 500);
    expect(warmPoolTarget(steady, t)).toBe(5);
  });
});
