import type { INestApplication } from '@nestjs/common';
import { AgentStep, createEvent, dlqTopicOf, TOPICS, type EventEnvelope } from '@quire/contracts';
import { decodeEvent } from '@quire/contracts/kafka';
import { bootstrapService, freePort } from '@quire/service-kit';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Consumer, Kafka } from 'kafkajs';
import type { ExportRecord, Invoice } from '../src/export/exports';
import type { BillingStatus } from '../src/runtime/billing-runtime';
import { RuntimeHost } from '../src/runtime/runtime-host';
import {
  createTopics,
  deleteTopics,
  endOffsets,
  EventSender,
  kafkaFor,
  namespace,
  platformVar,
  runBillingCli,
  waitUntil,
  type Namespace,
} from './support/harness';
import { deliveryPlan, simulate, type Simulation } from './support/usage-simulation';

jest.setTimeout(120_000);

/**
 * The billing service as deployed (role all: API + consumer + metering), fed a
 * simulated month-boundary-crossing stream over real Kafka into real
 * PostgreSQL, then asked for invoices, exports (read back with duckdb and
 * pyarrow from the kernel env), quota state and its billing.usage.v1 output.
 */
describe('billing service: invoice, exports, quotas, rated usage', () => {
  let ns: Namespace;
  let kafka: Kafka;
  let app: INestApplication;
  let base: string;
  let sim: Simulation;
  let usageReader: Consumer;
  const published: EventEnvelope[] = [];
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    ns = namespace('ie');
    kafka = kafkaFor(`billing-it-${ns.runId}`);
    await createTopics(kafka, ns);
    const port = await freePort();
    Object.assign(process.env, ns.env, {
      QUIRE_BILLING_PORT: String(port),
      QUIRE_BILLING_ROLE: 'all',
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

    usageReader = kafka.consumer({ groupId: `${ns.groupId}-usage-reader` });
    await usageReader.connect();
    await usageReader.subscribe({ topic: `${ns.prefix}${TOPICS.billingUsage.name}`, fromBeginning: true });
    await usageReader.run({
      eachMessage: async ({ message }) => {
        published.push(decodeEvent(message.headers, message.value) as unknown as EventEnvelope);
      },
    });

    sim = simulate({
      seed: 7,
      runId: ns.runId,
      // Crosses the January → February boundary: two invoices per org.
      startMs: Date.UTC(2025, 0, 31, 23, 0),
      durationMs: 100 * 60_000,
      hosts: 3,
      kernels: 70,
      orgs: 2,
      usersPerOrg: 3,
      gpuShare: 0.3,
      agentShare: 0.4,
      tailMs: 55 * 60_000,
    });
  });

  afterAll(async () => {
    await usageReader?.disconnect();
    const pool = app?.get(RuntimeHost).runtime.pool;
    if (pool && !process.env.QUIRE_BILLING_KEEP_TEST_SCHEMAS) {
      await pool.query(`DROP SCHEMA IF EXISTS ${ns.schema} CASCADE`).catch(() => undefined);
    }
    await app?.close();
    process.env = savedEnv;
    await deleteTopics(kafka, ns);
  });

  async function api<T>(path: string, init?: RequestInit): Promise<T> {
    const res = await fetch(`${base}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', ...(init?.headers ?? {}) },
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path} → ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  it('meters the stream to the simulated ground truth and publishes quota signals', async () => {
    const org0 = sim.orgs[0]!;
    // A compute quota the simulation will cross (about 1/3 of org0's January+February CPU).
    const org0Cpu = sim.truth.byOrg.get(`${org0}|cpu`)!;
    const limit = (org0Cpu / 3n / 1_000_000n).toString();
    const q = await api<{ quotas: unknown[] }>(`/api/billing/orgs/${org0}/quotas`, {
      method: 'PUT',
      body: JSON.stringify({ quota: 'compute', monthlyLimit: limit, hardCap: false }),
    });
    expect(q.quotas).toHaveLength(1);

    const { plan, duplicated } = deliveryPlan(sim.events, 11, {
      duplicateShare: 0.05,
      outOfOrderShare: 0.1,
      maxDisplacement: 400,
    });
    const sender = await EventSender.open(kafka, ns.prefix);
    for (let i = 0; i < plan.length; i += 500) await sender.send(plan.slice(i, i + 500));
    await sender.close();

    const topics = ['kernel.lifecycle.v1', 'host.events.v1', 'gpu.v1', 'agent.v1', 'exec.v1'].map(
      (t) => ns.prefix + t,
    );
    const end = await endOffsets(kafka, topics);
    const st = await waitUntil(
      'the ledger to catch up',
      () => api<BillingStatus>('/api/billing/status'),
      (s) => {
        const got = new Map(s.offsets.map((o) => [`${o.topic}:${o.partition}`, o.nextOffset]));
        return s.caughtUp && [...end].every(([k, v]) => BigInt(got.get(k) ?? '0') >= BigInt(v));
      },
      60_000,
    );
    expect(st.accepted).toBe(sim.events.length);
    expect(st.duplicates).toBe(duplicated);
    expect(st.rejected).toBe(0);

    // Ledger = ground truth, per org, user and resource.
    const pool = app.get(RuntimeHost).runtime.pool;
    const { rows } = await pool.query<{
      org_id: string;
      user_id: string | null;
      resource: string;
      base: string;
    }>(
      `SELECT org_id, user_id, resource, sum(base_quantity)::text AS base FROM ${ns.schema}.ledger
        GROUP BY 1, 2, 3 HAVING sum(base_quantity) <> 0`,
    );
    const ledger = new Map(rows.map((r) => [`${r.org_id}|${r.user_id ?? ''}|${r.resource}`, BigInt(r.base)]));
    expect(Object.fromEntries([...ledger].map(([k, v]) => [k, v.toString()]))).toEqual(
      Object.fromEntries([...sim.truth.byUser].map(([k, v]) => [k, v.toString()])),
    );

    // The compute quota was crossed: a warning, then QuotaExceeded, on billing.usage.v1, and refused new kernels.
    await waitUntil(
      'quota signals on billing.usage.v1',
      async () =>
        published
          .filter((e) => e.tenant === org0 && e.type.startsWith('quire.billing.Quota'))
          .map((e) => e.type),
      (types) =>
        types.includes('quire.billing.QuotaWarning') && types.includes('quire.billing.QuotaExceeded'),
      20_000,
    );
    const exceeded = published.find((e) => e.type === 'quire.billing.QuotaExceeded' && e.tenant === org0)!;
    expect(exceeded.data).toMatchObject({
      orgId: org0,
      quota: 'compute',
      unit: 'cpu-second',
      limit,
      hardCap: false,
    });
    expect((exceeded.data as { message: string }).message).toMatch(/new kernels are refused/);
    const months = ['2025-01', '2025-02'];
    const states = await Promise.all(
      months.map((m) =>
        api<{ newKernelsAllowed: boolean; message: string | null }>(
          `/api/billing/orgs/${org0}/quota?month=${m}`,
        ),
      ),
    );
    expect(states.some((s) => !s.newKernelsAllowed && /refused/.test(s.message ?? ''))).toBe(true);
  });

  it('publishes rated usage that adds up to the invoice, per org and month', async () => {
    for (const org of sim.orgs) {
      for (const month of ['2025-01', '2025-02']) {
        const inv = await api<Invoice>(`/api/billing/orgs/${org}/invoices/${month}`);
        expect(inv.lines.length).toBeGreaterThan(0);
        const fromEvents = published
          .filter((e) => e.type === 'quire.billing.UsageRated' && e.tenant === org)
          .map((e) => e.data as { amount: string; periodStart: string })
          .filter((d) => d.periodStart.startsWith(month))
          .reduce((s, d) => s + BigInt(d.amount.replace('.', '')), 0n);
        expect(fromEvents.toString()).toBe(inv.subtotal.replace('.', '').replace(/^0+(?=\d)/, ''));
      }
    }
  });

  it('exports Parquet through `quire billing export`; duckdb and pyarrow read back the invoice total', async () => {
    const org = sim.orgs[1]!;
    const inv = await api<Invoice>(`/api/billing/orgs/${org}/invoices/2025-02`);
    const dir = mkdtempSync(join(tmpdir(), 'billing-export-'));
    const out = join(dir, 'feb.parquet');
    // Asynchronously: the API answering the CLI runs in this process.
    const cli = await runBillingCli(
      [
        'export',
        '--org',
        org,
        '--from',
        '2025-02-01',
        '--to',
        '2025-03-01',
        '--format',
        'parquet',
        '--out',
        out,
      ],
      base,
    );
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toMatch(/ledger high-water mark/);

    const py = join(platformVar('QUIRE_KERNEL_ENV'), 'bin', 'python');
    const script = join(dir, 'read.py');
    writeFileSync(
      script,
      [
        'import duckdb, json, sys, pyarrow.parquet as pq',
        'p = sys.argv[1]',
        'total = duckdb.sql(f"SELECT sum(CAST(amount AS DECIMAL(38, 6)))::VARCHAR, count(*) FROM read_parquet(\'{p}\')").fetchone()',
        't = pq.read_table(p)',
        'print(json.dumps({"total": total[0], "rows": total[1], "columns": t.column_names, "pyarrow_rows": t.num_rows,',
        '  "hwm": sorted(set(t.column("ledger_hwm").to_pylist()))}))',
      ].join('\n'),
    );
    const got = JSON.parse(execFileSync(py, [script, out], { encoding: 'utf8' })) as {
      total: string;
      rows: number;
      columns: string[];
      pyarrow_rows: number;
      hwm: number[];
    };
    expect(got.total).toBe(inv.subtotal);
    expect(got.rows).toBe(inv.lines.length);
    expect(got.pyarrow_rows).toBe(inv.lines.length);
    expect(got.hwm).toEqual([Number(inv.highWaterMark)]);
    expect(got.columns).toEqual([
      'period',
      'org',
      'user',
      'notebook',
      'resource',
      'sku',
      'charge_to',
      'quantity',
      'unit',
      'unit_price',
      'amount',
      'currency',
      'event_count',
      'first_event_time',
      'last_event_time',
      'ledger_hwm',
    ]);
  });

  it('re-running an export gives the same file; a later incremental export carries only the correction', async () => {
    // A January agent step, to be followed later by a step that arrives late.
    const step = sim.events.find(
      (e) => e.type === 'quire.agent.AgentStep' && e.time.startsWith('2025-01-31T23'),
    )!;
    expect(step).toBeDefined();
    const org = step.tenant;
    const body = { orgId: org, from: '2025-01-01', to: '2025-02-01', format: 'csv' };
    const first = await api<ExportRecord>('/api/billing/exports', {
      method: 'POST',
      body: JSON.stringify(body),
    });
    const again = await api<ExportRecord>('/api/billing/exports', {
      method: 'POST',
      body: JSON.stringify(body),
    });
    expect(again).toEqual(first);
    const csv = await (await fetch(`${base}${first.downloadPath}`)).text();
    expect(csv.split('\r\n')[0]).toBe(
      'period,org,user,notebook,resource,sku,charge_to,quantity,unit,unit_price,amount,currency,event_count,first_event_time,last_event_time,ledger_hwm',
    );
    expect(csv.split('\r\n').filter(Boolean)).toHaveLength(first.rows + 1);
    const before = await api<Invoice>(`/api/billing/orgs/${org}/invoices/2025-01`);
    expect(first.totalAmount).toBe(before.subtotal);

    // Nothing new yet: an incremental export is empty, never a second copy.
    const empty = await api<ExportRecord>('/api/billing/exports', {
      method: 'POST',
      body: JSON.stringify({ ...body, mode: 'incremental' }),
    });
    expect(empty.hwmFrom).toBe(first.hwmTo);
    expect(empty.rows).toBe(0);

    // The late step: its hour closed long ago, so the ledger books a correction (a new row).
    const d = step.data as { runId: string };
    const lateStep = createEvent(AgentStep, {
      subject: d.runId,
      tenant: org,
      source: 'sim/late',
      time: new Date(Date.parse(step.time) + 1),
      data: { runId: d.runId, step: 999, tokens: { prompt: 1000, completion: 234 }, execMs: 5 },
    });
    const sender = await EventSender.open(kafka, ns.prefix);
    await sender.send([lateStep]);
    await sender.close();
    const after = await waitUntil(
      'the late step in the January invoice',
      () => api<Invoice>(`/api/billing/orgs/${org}/invoices/2025-01`),
      (inv) => inv.highWaterMark !== before.highWaterMark,
      20_000,
    );
    const pool = app.get(RuntimeHost).runtime.pool;
    const { rows } = await pool.query<{ kind: string; base: string }>(
      `SELECT kind, base_quantity::text AS base FROM ${ns.schema}.ledger WHERE agent_run_id = $1 AND seq > $2 ORDER BY seq`,
      [d.runId, first.hwmTo],
    );
    expect(rows).toEqual([
      { kind: 'correction', base: '1234' },
      { kind: 'correction', base: '1' },
    ]);

    const inc = await api<ExportRecord>('/api/billing/exports', {
      method: 'POST',
      body: JSON.stringify({ ...body, mode: 'incremental' }),
    });
    expect(inc.hwmFrom).toBe(first.hwmTo);
    expect(inc.hwmTo).toBe(after.highWaterMark);
    expect(inc.rows).toBe(2);
    // Full statement before + the increment = the invoice now: nothing counted twice.
    const cents = (s: string) => BigInt(s.replace('.', ''));
    expect(cents(first.totalAmount) + cents(inc.totalAmount)).toBe(cents(after.subtotal));
    expect(cents(inc.totalAmount)).toBeGreaterThan(0n);

    // Pinning the first export's high-water mark reproduces it byte for byte.
    const pinned = await api<ExportRecord>('/api/billing/exports', {
      method: 'POST',
      body: JSON.stringify({ ...body, hwm: first.hwmTo }),
    });
    expect(pinned.sha256).toBe(first.sha256);
    expect(pinned.id).toBe(first.id);
  });

  it('dead-letters nothing that the simulated producers sent', async () => {
    const admin = kafka.admin();
    await admin.connect();
    for (const t of [TOPICS.kernelLifecycle, TOPICS.hostEvents, TOPICS.exec, TOPICS.gpu, TOPICS.agent]) {
      const offs = await admin.fetchTopicOffsets(dlqTopicOf(`${ns.prefix}${t.name}`));
      expect(offs.map((o) => o.high)).toEqual(['0']);
    }
    await admin.disconnect();
  });
});
