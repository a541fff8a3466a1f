import type { INestApplication } from '@nestjs/common';
import { createEvent, GpuAllocated, GpuReleased, GpuRequested, type EventEnvelope } from '@quire/contracts';
import { bootstrapService, freePort } from '@quire/service-kit';
import type { Kafka } from 'kafkajs';
import type { Invoice } from '../src/export/exports';
import type { BillingStatus } from '../src/runtime/billing-runtime';
import { RuntimeHost } from '../src/runtime/runtime-host';
import { PriceBooks } from '../src/rating/price-book';
import { join } from 'node:path';
import {
  createTopics,
  deleteTopics,
  endOffsets,
  EventSender,
  kafkaFor,
  namespace,
  waitUntil,
  type Namespace,
} from './support/harness';

jest.setTimeout(120_000);

/**
 * GPU-seconds from real gpu.v1 events (GpuAllocated / GpuReleased, as the
 * gpu-scheduler publishes them) over real Kafka into real PostgreSQL: the
 * ledger holds, per GPU type and slice, exactly the allocation intervals to
 * the millisecond (one crosses an hour, one release is delivered twice), and
 * the invoice prices each from the price book's GPU type × slice entry.
 */
describe('billing: GPU-seconds per device type and slice from gpu.v1', () => {
  let ns: Namespace;
  let kafka: Kafka;
  let app: INestApplication;
  let base: string;
  const savedEnv = { ...process.env };
  const books = PriceBooks.load(join(__dirname, '..', 'price-book'));

  beforeAll(async () => {
    ns = namespace('gpu');
    kafka = kafkaFor(`billing-it-${ns.runId}`);
    await createTopics(kafka, ns);
    const port = await freePort();
    Object.assign(process.env, ns.env, {
      QUIRE_BILLING_PORT: String(port),
      QUIRE_BILLING_ROLE: 'all',
      QUIRE_BILLING_LATENESS_MS: '1000',
      QUIRE_BILLING_KAFKA_SESSION_TIMEOUT_MS: '6000',
      QUIRE_BILLING_KAFKA_HEARTBEAT_MS: '500',
      QUIRE_LOG_LEVEL: 'warn',
    });
    app = await bootstrapService({
      service: 'billing-it',
      loadModule: async () => (await import('../src/app.module')).AppModule,
      port,
      host: '127.0.0.1',
      logLevel: 'warn',
    });
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    const pool = app?.get(RuntimeHost).runtime.pool;
    if (pool && !process.env.QUIRE_BILLING_KEEP_TEST_SCHEMAS)
      await pool.query(`DROP SCHEMA IF EXISTS ${ns.schema} CASCADE`).catch(() => undefined);
    await app?.close();
    process.env = savedEnv;
    await deleteTopics(kafka, ns);
  });

  async function api<T>(path: string): Promise<T> {
    const res = await fetch(`${base}${path}`);
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${path} → ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  it('books exactly the allocation intervals, per GPU type and slice, priced from the book', async () => {
    const org = `${ns.runId}-org`;
    const t0 = Date.UTC(2026, 10, 3, 10, 0, 0);
    const allocations = [
      { gpuType: 'h100-80gb', slice: null, host: 'h-a', device: 'GPU-a0', from: t0, to: t0 + 433_250 },
      // Crosses 11:00: two hourly rows that add up.
      {
        gpuType: 'h100-80gb',
        slice: '1g.10gb',
        host: 'h-a',
        device: 'GPU-a1',
        from: t0 + 300_100,
        to: t0 + 3_720_400,
      },
      {
        gpuType: 'h100-80gb',
        slice: '1g.10gb',
        host: 'h-a',
        device: 'GPU-a1',
        from: t0 + 3_800_000,
        to: t0 + 3_800_007,
      },
      {
        gpuType: 'h200-141gb',
        slice: '3g.71gb',
        host: 'h-b',
        device: 'GPU-b0',
        from: t0 + 600_000,
        to: t0 + 1_200_001,
      },
      {
        gpuType: 'a100-40gb',
        slice: null,
        host: 'h-c',
        device: 'GPU-c0',
        from: t0 + 1_800_000,
        to: t0 + 1_860_000,
      },
    ].map((a, i) => ({ ...a, requestId: `${ns.runId}-k${i}.gpu-1`, kernelId: `${ns.runId}-k${i}` }));

    const events: EventEnvelope[] = [];
    const emit = (e: EventEnvelope) => events.push(e);
    for (const a of allocations) {
      const common = { subject: a.requestId, tenant: org, source: 'gpu-scheduler/it' };
      emit(
        createEvent(GpuRequested, {
          ...common,
          time: new Date(a.from - 20),
          data: {
            requestId: a.requestId,
            kernelId: a.kernelId,
            gpuType: a.gpuType,
            profile: a.slice ?? 'full',
          },
        }),
      );
      emit(
        createEvent(GpuAllocated, {
          ...common,
          time: new Date(a.from),
          data: {
            requestId: a.requestId,
            kernelId: a.kernelId,
            hostId: a.host,
            gpuType: a.gpuType,
            device: a.device,
            slice: a.slice,
          },
        }),
      );
      emit(
        createEvent(GpuReleased, {
          ...common,
          time: new Date(a.to),
          data: {
            requestId: a.requestId,
            kernelId: a.kernelId,
            device: a.device,
            slice: a.slice,
            reason: 'hibernated',
          },
        }),
      );
    }
    // A redelivered release (same event id) books nothing twice.
    emit(events[events.length - 1]!);
    // A later request moves the watermark past every release.
    const later = `${ns.runId}-later.gpu-1`;
    emit(
      createEvent(GpuRequested, {
        subject: later,
        tenant: org,
        source: 'gpu-scheduler/it',
        time: new Date(t0 + 2 * 3_600_000),
        data: { requestId: later, kernelId: `${ns.runId}-later`, gpuType: 'h100-80gb', profile: 'full' },
      }),
    );

    const sender = await EventSender.open(kafka, ns.prefix);
    await sender.send(events);
    await sender.close();

    const pool = app.get(RuntimeHost).runtime.pool;
    const expected = new Map<string, bigint>();
    for (const a of allocations) {
      const sku = `gpu/${a.gpuType}/${a.slice ?? 'full'}`;
      expected.set(sku, (expected.get(sku) ?? 0n) + BigInt(a.to - a.from));
    }
    const end = await endOffsets(kafka, [`${ns.prefix}gpu.v1`]);
    await waitUntil(
      'the ledger to catch up with gpu.v1',
      () => api<BillingStatus>('/api/billing/status'),
      (s) => {
        const got = new Map(s.offsets.map((o) => [`${o.topic}:${o.partition}`, o.nextOffset]));
        return s.caughtUp && [...end].every(([k, v]) => BigInt(got.get(k) ?? '0') >= BigInt(v));
      },
      60_000,
    );
    const ledger = await waitUntil(
      'GPU rows in the ledger',
      async () => {
        const { rows } = await pool.query<{ sku: string; base: string }>(
          `SELECT sku, sum(base_quantity)::text AS base FROM ${ns.schema}.ledger
            WHERE org_id = $1 AND resource = 'gpu' GROUP BY sku`,
          [org],
        );
        return Object.fromEntries(rows.map((r) => [r.sku, r.base]));
      },
      (got) => Object.keys(got).length === expected.size,
      30_000,
    );
    // Base unit of gpu is ms: the ledger equals the intervals to the millisecond.
    expect(ledger).toEqual(Object.fromEntries([...expected].map(([k, v]) => [k, v.toString()])));

    const invoice = await api<Invoice>(`/api/billing/orgs/${org}/invoices/2026-11`);
    expect(invoice.unpricedSkus).toEqual([]);
    const gpuLines = invoice.lines.filter((l) => l.resource === 'gpu');
    for (const [sku, ms] of expected) {
      const lines = gpuLines.filter((l) => l.sku === sku);
      const unitPrice = books.price(sku, 'gpu', t0).unitPrice;
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) expect(l).toMatchObject({ unit: 'gpu-second', unitPrice, priced: true });
      const seconds = lines.reduce((s, l) => s + Number(l.quantity), 0);
      expect(seconds).toBeCloseTo(Number(ms) / 1000, 6);
      const amount = lines.reduce((s, l) => s + Number(l.amount), 0);
      expect(amount).toBeCloseTo((Number(ms) / 1000) * Number(unitPrice), 4);
    }
  });
});
