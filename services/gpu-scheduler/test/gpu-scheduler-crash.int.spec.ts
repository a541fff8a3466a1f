import { uuidv7, type EventEnvelope, type GpuRequestState } from '@quire/contracts';
import {
  createPostgresPool,
  isRunning,
  platformVar,
  restartServiceProcess,
  stopServiceProcess,
  type ServiceProcess,
} from '@quire/service-kit';
import type { Kafka, Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { requestFit } from '../src/scheduling/placement-choice';
import {
  call,
  FakeGpuHost,
  GpuEventLog,
  hostEvents,
  kafka,
  startScheduler,
  until,
  wholeGpu,
} from './support';

/**
 * Two scheduler instances on one schema, clients hammering both, each
 * instance killed with SIGKILL in the middle of it. Afterwards
 * gpu.v1, replayed from its first event, must show no memory slot of any GPU
 * held by two requests at once, every allocation a client was told about,
 * and the same open holds as PostgreSQL: none lost, none leaked.
 */
jest.setTimeout(240_000);

const run = uuidv7()
  .slice(-10)
  .replace(/[^a-z0-9]/g, '');
const schema = `gpu_crash_${run}`;
const fleet = `crash-${run}`;
const PROFILES = ['full', 'full', '1g.10gb', '2g.20gb', '3g.40gb'];

describe('gpu-scheduler: kill -9 during allocations, two instances', () => {
  let k: Kafka;
  let producer: Producer;
  let pg: Pool;
  let log: GpuEventLog;
  let host: FakeGpuHost;
  const instances: ServiceProcess[] = [];

  beforeAll(async () => {
    k = kafka();
    const he = await hostEvents(k);
    producer = he.producer;
    log = new GpuEventLog(k, (e) => e.tenant.endsWith(run));
    await log.start();
    pg = createPostgresPool(
      { QUIRE_POSTGRES_URL: platformVar('QUIRE_POSTGRES_URL'), QUIRE_POSTGRES_POOL_SIZE: 2 },
      'gpu-crash-it',
    );
    const gpus = Array.from({ length: 6 }, (_, i) => wholeGpu(`GPU-${i}-${run}`, i));
    for (const i of [6, 7])
      gpus.push(
        wholeGpu(`GPU-${i}-${run}`, i, { migMode: 'enabled', sandbox: { wholeGpu: false, migSlices: true } }),
      );
    host = new FakeGpuHost(he.events, `crash-host-${run}`, fleet, gpus);
    await host.start();
    for (const name of ['a', 'b'])
      instances.push(
        await startScheduler(`gpu-scheduler-crash-${name}-${run}`, {
          schema,
          fleet,
          groupId: `gpu-crash-${run}`,
          QUIRE_GPU_DECIDE_INTERVAL_MS: 100,
        }),
      );
    await until('the inventory', async () => {
      const r = await call<{ gpus: unknown[] }>(instances[0]!.url, 'GET', '/internal/gpu/inventory');
      return r.body.gpus.length === 8;
    });
  });

  afterAll(async () => {
    host?.stop();
    await log?.stop();
    await producer?.disconnect();
    await pg?.end();
    for (const s of instances) await stopServiceProcess(s);
  });

  it('no slot is ever held twice, and no allocation is lost or leaked', async () => {
    const told = new Map<string, { device: string; startSlot: number | null }>();
    let stop = false;
    let calls = 0;
    let retried = 0;
    // Idempotent calls: on a dead instance, try the other one until it answers.
    const send = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        const s = instances[(attempt + Math.floor(Math.random() * 2)) % 2]!;
        try {
          const r = await call<T>(s.url, method, path, body);
          if (r.status >= 500) throw new Error(`HTTP ${r.status}`);
          calls++;
          return r.body;
        } catch (err) {
          retried++;
          if (attempt > 200) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        const requestId = `c${c}-${i}-${run}`;
        const body = {
          requestId,
          kernelId: `k-${requestId}`,
          tenant: `org-${c % 4}-${run}`,
          userId: `u-${c}`,
          gpuType: 'h100-80gb',
          profile: PROFILES[(c + i) % PROFILES.length],
        };
        let s = await send<GpuRequestState>('POST', '/internal/gpu/requests', body);
        const until = Date.now() + 1500;
        while (s.phase === 'queued' && Date.now() < until && !stop) {
          await new Promise((r) => setTimeout(r, 100));
          s = await send<GpuRequestState>('GET', `/internal/gpu/requests/${requestId}`);
        }
        if (s.phase === 'allocated' && s.allocation)
          told.set(requestId, { device: s.allocation.device, startSlot: s.allocation.startSlot });
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 300));
        await send('POST', `/internal/gpu/requests/${requestId}/release`, { reason: 'terminated' });
      }
    };
    const clients = Array.from({ length: 16 }, (_, c) => client(c));
    const kills: string[] = [];
    for (const [waitMs, which] of [
      [4000, 0],
      [3000, 1],
    ] as const) {
      await new Promise((r) => setTimeout(r, waitMs));
      const s = instances[which]!;
      await stopServiceProcess(s, 'SIGKILL');
      kills.push(s.name);
      await restartServiceProcess(s);
    }
    await new Promise((r) => setTimeout(r, 3000));
    stop = true;
    await Promise.all(clients);
    expect(instances.every(isRunning)).toBe(true);

    // Everything is released now; the outboxes drain.
    await until('the outbox to drain', async () => {
      const { rows } = await pg.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${schema}.outbox WHERE published_at IS NULL`,
      );
      return rows[0]!.n === '0';
    });
    const { rows: dbCount } = await pg.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.outbox`);
    await until(
      'gpu.v1 to carry every outbox event',
      async () => new Set(log.events.map((e) => e.id)).size >= Number(dbCount[0]!.n),
    );

    // Replay gpu.v1 (duplicates from at-least-once publishing dropped by event id).
    const seen = new Set<string>();
    const holder = new Map<string, string>(); // device/slot → requestId
    const allocated = new Map<string, EventEnvelope>();
    const released = new Set<string>();
    const overlaps: string[] = [];
    // gpu.v1 is keyed by request, so its partitions interleave: replay in decision order. Decisions
    // about a pool are serialized by its lock and stamped under it; at equal milliseconds a release
    // comes before another request's allocation (which it made room for).
    const rank = (e: EventEnvelope) => (e.type.endsWith('GpuReleased') ? 0 : 1);
    const ordered = [...log.events].sort(
      (a, b) =>
        Date.parse(a.time) - Date.parse(b.time) ||
        (a.subject === b.subject ? rank(b) - rank(a) : rank(a) - rank(b)),
    );
    for (const e of ordered) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      const d = e.data as {
        requestId: string;
        device: string;
        slice: string | null;
        startSlot?: number | null;
      };
      const size = requestFit('h100-80gb', d.slice ?? 'full');
      const slots = (start: number) => Array.from({ length: size.ok ? size.slots : 8 }, (_, i) => start + i);
      if (e.type.endsWith('GpuAllocated')) {
        expect(allocated.has(d.requestId)).toBe(false);
        allocated.set(d.requestId, e);
        for (const s of slots(d.startSlot ?? 0)) {
          const key = `${d.device}/${s}`;
          if (holder.has(key)) overlaps.push(`${key}: ${holder.get(key)} and ${d.requestId}`);
          holder.set(key, d.requestId);
        }
      } else if (e.type.endsWith('GpuReleased')) {
        expect(allocated.has(d.requestId)).toBe(true);
        expect(released.has(d.requestId)).toBe(false);
        released.add(d.requestId);
        for (const [key, id] of holder) if (id === d.requestId) holder.delete(key);
      }
    }
    expect(overlaps).toEqual([]);
    for (const [requestId, a] of told) {
      const e = allocated.get(requestId);
      expect(e && { id: requestId, device: (e.data as { device: string }).device }).toEqual({
        id: requestId,
        device: a.device,
      });
    }
    const { rows: holds } = await pg.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.slot_holds`);
    expect(holder.size).toBe(Number(holds[0]!.n));
    expect(holder.size).toBe(0);
    const { rows: open } = await pg.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${schema}.requests WHERE phase IN ('queued', 'allocated')`,
    );
    expect(open[0]!.n).toBe('0');
    console.log(
      `gpu-scheduler crash test: ${allocated.size} allocations, ${told.size} seen by clients, ${calls} calls, ${retried} retried, kills: ${kills.join(', ')}`,
    );
    expect(allocated.size).toBeGreaterThan(50);
    expect(retried).toBeGreaterThan(0);
  });
});
