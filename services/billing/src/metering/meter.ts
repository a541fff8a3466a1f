import { QuotaExceeded, QuotaWarning, UsageRated, uuidv7, type EventData } from '@quire/contracts';
import type { Pool, PoolClient } from 'pg';
import { inTransaction, iso, Tables } from '../db';
import { baseToQuantity, amountOf, subDecimal, compareDecimal, toScale } from '../money/decimal';
import type { PriceBooks } from '../rating/price-book';
import { AMOUNT_SCALE, QUANTITY_SCALE, RESOURCES, isResource } from '../rating/resources';
import { OutboxWriter } from '../outbox/outbox';
import { meterAgentRun } from './agent-meter';
import { gapsOf, sameGaps, type HostLiveness } from './host-liveness';
import { meterKernel, type HostSpan } from './kernel-meter';
import {
  HOUR_MS,
  type ChargeTo,
  type JournalEvent,
  type Resource,
  type UsageDims,
  type UsageMap,
} from './usage';

/**
 * The metering step: one transaction per round, run by one process at a time
 * (see MeterLoop). It takes a batch of dirty keys, recomputes each kernel /
 * agent run from the journal, and appends the difference to the ledger (a
 * change in an hour the watermark has passed is booked as a `correction`).
 * In the same transaction it keeps the rated lines, quota signals and the
 * outbox of billing.usage.v1 in step, so a crash anywhere repeats the round.
 */
export interface MeterOptions {
  latenessMs: number;
  hostLossAfterMs: number;
  batchKeys: number;
  sweepStepMs: number;
  /** Write UsageRated / Quota* events to the outbox (off for a rebuild). */
  publish: boolean;
  lagSamples: boolean;
  source: string;
}

export interface RoundResult {
  watermark: number | null;
  marks: number;
  kernels: number;
  runs: number;
  ledgerRows: number;
  swept: boolean;
}

interface CurrentRow {
  dims: UsageDims;
  base: bigint;
  count: number;
  first: number | null;
  last: number | null;
}

interface Delta {
  key: string;
  dims: UsageDims;
  base: bigint;
  count: number;
  first: number | null;
  last: number | null;
  newBase: bigint;
  newCount: number;
}

const KERNEL_CHUNK = 400;

export const QUOTA_RESOURCES: Record<
  'compute' | 'gpu' | 'agent',
  { resource: Resource; chargeTo: ChargeTo; unit: 'cpu-second' | 'gpu-second' | 'token' }
> = {
  compute: { resource: 'cpu', chargeTo: 'org', unit: 'cpu-second' },
  gpu: { resource: 'gpu', chargeTo: 'org', unit: 'gpu-second' },
  agent: { resource: 'agent-tokens', chargeTo: 'agent-run', unit: 'token' },
};

export class Meter {
  private readonly outbox: OutboxWriter;

  constructor(
    private readonly pool: Pool,
    readonly t: Tables,
    private readonly prices: PriceBooks,
    private readonly opts: MeterOptions,
  ) {
    this.outbox = new OutboxWriter(t, opts.source);
  }

  async watermark(c: Pool | PoolClient = this.pool): Promise<number | null> {
    const { rows } = await c.query<{ m: Date | null }>(
      `SELECT max(max_event_time) AS m FROM ${this.t.offsets}`,
    );
    const m = rows[0]?.m;
    return m ? m.getTime() - this.opts.latenessMs : null;
  }

  async round(): Promise<RoundResult> {
    return inTransaction(this.pool, (c) => this.roundIn(c));
  }

  private async roundIn(c: PoolClient): Promise<RoundResult> {
    const t = this.t;
    const W = await this.watermark(c);
    const empty: RoundResult = { watermark: W, marks: 0, kernels: 0, runs: 0, ledgerRows: 0, swept: false };
    if (W === null) return empty;
    const { rows: marks } = await c.query<{
      kind: 'kernel' | 'run' | 'host';
      key: string;
      min_time: Date;
      max_time: Date;
      min_kafka_ts: Date;
      events: number;
    }>(
      `DELETE FROM ${t.dirty} WHERE (kind, key) IN
         (SELECT kind, key FROM ${t.dirty} ORDER BY kind, key LIMIT $1 FOR UPDATE)
       RETURNING kind, key, min_time, max_time, min_kafka_ts, events`,
      [this.opts.batchKeys],
    );
    const kernels = new Set<string>();
    const runs = new Set<string>();
    for (const m of marks) {
      if (m.kind === 'kernel') kernels.add(m.key);
      else if (m.kind === 'run') runs.add(m.key);
    }
    for (const m of marks.filter((x) => x.kind === 'host')) {
      for (const k of await this.processHost(c, m.key, m.min_time.getTime(), m.max_time.getTime(), W))
        kernels.add(k);
    }
    const { rows: st } = await c.query<{ swept_w: Date | null }>(
      `SELECT swept_w FROM ${t.meterState} WHERE id = 1 FOR UPDATE`,
    );
    const swept = st[0]?.swept_w?.getTime() ?? null;
    const sweep = swept === null || W - swept >= this.opts.sweepStepMs || (marks.length === 0 && W !== swept);
    if (sweep) {
      const { rows } = await c.query<{ kernel_id: string }>(
        `SELECT kernel_id FROM ${t.kernelMeter} WHERE recheck_after_w < $1`,
        [iso(W)],
      );
      for (const r of rows) kernels.add(r.kernel_id);
    }

    const deltas: Delta[] = [];
    const kernelIds = [...kernels].sort();
    for (let i = 0; i < kernelIds.length; i += KERNEL_CHUNK) {
      deltas.push(...(await this.meterKernels(c, kernelIds.slice(i, i + KERNEL_CHUNK), W)));
    }
    const runIds = [...runs].sort();
    for (let i = 0; i < runIds.length; i += KERNEL_CHUNK) {
      deltas.push(...(await this.meterRuns(c, runIds.slice(i, i + KERNEL_CHUNK))));
    }
    if (deltas.length) await this.applyDeltas(c, deltas, W);

    await c.query(
      `UPDATE ${t.meterState} SET rounds = rounds + 1, last_round = clock_timestamp(),
              swept_w = CASE WHEN $1 THEN $2::timestamptz ELSE swept_w END WHERE id = 1`,
      [sweep, iso(W)],
    );
    if (this.opts.lagSamples && marks.length) {
      // Lag of a key = now (just before commit) − the Kafka time of the oldest event that marked it.
      await c.query(
        `INSERT INTO ${t.lagSamples} (kind, events, lag_ms)
         SELECT u.kind, u.events, extract(epoch FROM clock_timestamp() - u.kts) * 1000
           FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS u(kind, events, kts)`,
        [
          marks.map((m) => m.kind),
          marks.map((m) => m.events),
          marks.map((m) => iso(m.min_kafka_ts.getTime())),
        ],
      );
    }
    return {
      watermark: W,
      marks: marks.length,
      kernels: kernels.size,
      runs: runs.size,
      ledgerRows: deltas.length,
      swept: sweep,
    };
  }

  /** Recomputes the host's gaps around new heartbeats; returns the kernels whose metering may change. */
  private async processHost(
    c: PoolClient,
    hostId: string,
    a: number,
    b: number,
    W: number,
  ): Promise<string[]> {
    const t = this.t;
    const T = this.opts.hostLossAfterMs;
    const { rows } = await c.query<{ lo: Date | null; hi: Date | null; prev_last: Date | null }>(
      `SELECT (SELECT max(hb_time) FROM ${t.heartbeats} WHERE host_id = $1 AND hb_time < $2) AS lo,
              (SELECT min(hb_time) FROM ${t.heartbeats} WHERE host_id = $1 AND hb_time > $3) AS hi,
              (SELECT last_heartbeat FROM ${t.hosts} WHERE host_id = $1) AS prev_last`,
      [hostId, iso(a), iso(b)],
    );
    const lo = rows[0]?.lo?.getTime() ?? a;
    const hi = rows[0]?.hi?.getTime() ?? b;
    const prevLast = rows[0]?.prev_last?.getTime() ?? null;
    const { rows: hb } = await c.query<{ hb_time: Date }>(
      `SELECT DISTINCT hb_time FROM ${t.heartbeats} WHERE host_id = $1 AND hb_time BETWEEN $2 AND $3 ORDER BY hb_time`,
      [hostId, iso(lo), iso(hi)],
    );
    const times = hb.map((r) => r.hb_time.getTime());
    const fresh = gapsOf(times, T);
    const { rows: oldRows } = await c.query<{ gap_start: Date; gap_end: Date }>(
      `SELECT gap_start, gap_end FROM ${t.hostGaps} WHERE host_id = $1 AND gap_start >= $2 AND gap_start < $3
        ORDER BY gap_start`,
      [hostId, iso(lo), iso(hi)],
    );
    const old = oldRows.map((r) => ({ start: r.gap_start.getTime(), end: r.gap_end.getTime() }));
    const newLast = Math.max(prevLast ?? -Infinity, times[times.length - 1] ?? -Infinity);
    const gapsChanged = !sameGaps(old, fresh);
    const trailingChanged =
      prevLast === null || (newLast !== prevLast && (W - prevLast > T || W - newLast > T));
    if (Number.isFinite(newLast)) {
      await c.query(
        `INSERT INTO ${t.hosts} (host_id, last_heartbeat) VALUES ($1, $2)
         ON CONFLICT (host_id) DO UPDATE SET last_heartbeat = GREATEST(${t.hosts}.last_heartbeat, EXCLUDED.last_heartbeat)`,
        [hostId, iso(newLast)],
      );
    }
    if (gapsChanged) {
      await c.query(`DELETE FROM ${t.hostGaps} WHERE host_id = $1 AND gap_start >= $2 AND gap_start < $3`, [
        hostId,
        iso(lo),
        iso(hi),
      ]);
      if (fresh.length) {
        await c.query(
          `INSERT INTO ${t.hostGaps} (host_id, gap_start, gap_end)
           SELECT $1, * FROM unnest($2::timestamptz[], $3::timestamptz[]) ON CONFLICT DO NOTHING`,
          [hostId, fresh.map((g) => iso(g.start)), fresh.map((g) => iso(g.end))],
        );
      }
    }
    if (!gapsChanged && !trailingChanged) return [];
    const { rows: ks } = await c.query<{ kernel_id: string }>(
      `SELECT DISTINCT kernel_id FROM ${t.spans} WHERE host_id = $1 AND (span_end IS NULL OR span_end > $2)`,
      [hostId, iso(lo)],
    );
    return ks.map((r) => r.kernel_id);
  }

  private async loadEvents(c: PoolClient, column: 'kernel_id' | 'run_id', ids: string[]) {
    const { rows } = await c.query<{
      event_id: string;
      type: string;
      tenant: string;
      event_time: Date;
      data: Record<string, unknown>;
      owner: string;
    }>(
      `SELECT event_id, type, tenant, event_time, data, ${column} AS owner FROM ${this.t.journal}
        WHERE ${column} = ANY($1)`,
      [ids],
    );
    const byOwner = new Map<string, JournalEvent[]>();
    for (const r of rows) {
      const list = byOwner.get(r.owner) ?? [];
      list.push({
        id: r.event_id,
        type: r.type,
        tenant: r.tenant,
        time: r.event_time.getTime(),
        data: r.data,
      });
      byOwner.set(r.owner, list);
    }
    return byOwner;
  }

  private async loadCurrent(
    c: PoolClient,
    where: string,
    ids: string[],
  ): Promise<Map<string, Map<string, CurrentRow>>> {
    const { rows } = await c.query<{
      usage_key: string;
      period_start: Date;
      org_id: string;
      user_id: string | null;
      notebook_id: string | null;
      kernel_id: string | null;
      execution_id: string | null;
      cell_id: string | null;
      agent_run_id: string | null;
      resource: Resource;
      sku: string;
      charge_to: ChargeTo;
      base: string;
      event_count: number;
      first_event_time: Date | null;
      last_event_time: Date | null;
      owner: string;
    }>(
      `SELECT usage_key, period_start, org_id, user_id, notebook_id, kernel_id, execution_id, cell_id, agent_run_id,
              resource, sku, charge_to, base_quantity::text AS base, event_count, first_event_time, last_event_time,
              ${where === 'kernel' ? 'kernel_id' : 'agent_run_id'} AS owner
         FROM ${this.t.current}
        WHERE ${
          // A kernel owns its cpu / memory / gpu / snapshot rows (a dry-run fork's carry its run id too);
          // an agent run owns its agent-* rows.
          where === 'kernel'
            ? "kernel_id = ANY($1) AND resource NOT LIKE 'agent-%'"
            : "agent_run_id = ANY($1) AND resource LIKE 'agent-%'"
        }`,
      [ids],
    );
    const out = new Map<string, Map<string, CurrentRow>>();
    for (const r of rows) {
      const m = out.get(r.owner) ?? new Map<string, CurrentRow>();
      m.set(r.usage_key, {
        dims: {
          periodStart: r.period_start.getTime(),
          orgId: r.org_id,
          userId: r.user_id,
          notebookId: r.notebook_id,
          kernelId: r.kernel_id,
          executionId: r.execution_id,
          cellId: r.cell_id,
          agentRunId: r.agent_run_id,
          resource: r.resource,
          sku: r.sku,
          chargeTo: r.charge_to,
        },
        base: BigInt(r.base),
        count: r.event_count,
        first: r.first_event_time?.getTime() ?? null,
        last: r.last_event_time?.getTime() ?? null,
      });
      out.set(r.owner, m);
    }
    return out;
  }

  private async meterKernels(c: PoolClient, ids: string[], W: number): Promise<Delta[]> {
    const t = this.t;
    const events = await this.loadEvents(c, 'kernel_id', ids);
    const hostIds = new Set<string>();
    for (const list of events.values()) {
      for (const e of list) {
        const h = e.data.hostId;
        if (typeof h === 'string') hostIds.add(h);
      }
    }
    const hosts = new Map<string, HostLiveness>();
    if (hostIds.size) {
      const hs = [...hostIds];
      const { rows: last } = await c.query<{ host_id: string; last_heartbeat: Date }>(
        `SELECT host_id, last_heartbeat FROM ${t.hosts} WHERE host_id = ANY($1)`,
        [hs],
      );
      for (const r of last) hosts.set(r.host_id, { gaps: [], lastHeartbeat: r.last_heartbeat.getTime() });
      const { rows: gaps } = await c.query<{ host_id: string; gap_start: Date; gap_end: Date }>(
        `SELECT host_id, gap_start, gap_end FROM ${t.hostGaps} WHERE host_id = ANY($1) ORDER BY host_id, gap_start`,
        [hs],
      );
      for (const g of gaps) {
        const h = hosts.get(g.host_id) ?? { gaps: [], lastHeartbeat: null };
        h.gaps.push({ start: g.gap_start.getTime(), end: g.gap_end.getTime() });
        hosts.set(g.host_id, h);
      }
    }
    const current = await this.loadCurrent(c, 'kernel', ids);
    const deltas: Delta[] = [];
    const meta: { id: string; org: string | null; recheck: number | null; spans: HostSpan[] }[] = [];
    for (const id of ids) {
      const r = meterKernel(id, events.get(id) ?? [], hosts, {
        watermark: W,
        hostLossAfterMs: this.opts.hostLossAfterMs,
        tierDefaults: (tier, time) => this.prices.tierDefaults(tier, time),
      });
      deltas.push(...diffUsage(r.usage, current.get(id) ?? new Map()));
      meta.push({ id, org: r.orgId, recheck: r.recheckAfterW, spans: r.spans });
    }
    await c.query(
      `INSERT INTO ${t.kernelMeter} (kernel_id, org_id, recheck_after_w, computed_at_w, updated_at)
       SELECT u.k, u.o, u.r, $4, clock_timestamp() FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(k, o, r)
       ON CONFLICT (kernel_id) DO UPDATE SET org_id = EXCLUDED.org_id, recheck_after_w = EXCLUDED.recheck_after_w,
              computed_at_w = EXCLUDED.computed_at_w, updated_at = EXCLUDED.updated_at`,
      [
        meta.map((m) => m.id),
        meta.map((m) => m.org),
        meta.map((m) => (m.recheck === null ? null : iso(m.recheck))),
        iso(W),
      ],
    );
    await c.query(`DELETE FROM ${t.spans} WHERE kernel_id = ANY($1)`, [ids]);
    const spans = meta.flatMap((m) => m.spans.map((s) => ({ ...s, kernelId: m.id })));
    if (spans.length) {
      await c.query(
        `INSERT INTO ${t.spans} (kernel_id, host_id, span_start, span_end)
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])`,
        [
          spans.map((s) => s.kernelId),
          spans.map((s) => s.hostId),
          spans.map((s) => iso(s.start)),
          spans.map((s) => (s.end === null ? null : iso(s.end))),
        ],
      );
    }
    return deltas;
  }

  private async meterRuns(c: PoolClient, ids: string[]): Promise<Delta[]> {
    const events = await this.loadEvents(c, 'run_id', ids);
    const current = await this.loadCurrent(c, 'run', ids);
    const deltas: Delta[] = [];
    for (const id of ids) {
      const r = meterAgentRun(id, events.get(id) ?? []);
      deltas.push(...diffUsage(r.usage, current.get(id) ?? new Map()));
    }
    return deltas;
  }

  private async applyDeltas(c: PoolClient, deltas: Delta[], W: number): Promise<void> {
    const t = this.t;
    const col = <T>(f: (d: Delta) => T) => deltas.map(f);
    const { rows } = await c.query<{ seq: string; usage_key: string }>(
      `INSERT INTO ${t.ledger} (entry_id, usage_key, kind, period_start, org_id, user_id, notebook_id, kernel_id,
                                execution_id, cell_id, agent_run_id, resource, sku, charge_to, base_unit, base_quantity,
                                event_count, first_event_time, last_event_time, watermark)
       SELECT u.*, $19::timestamptz FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
                            $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                            $13::text[], $14::text[], $15::text[], $16::numeric[], $17::int[], $18::timestamptz[],
                            $20::timestamptz[]) AS u
       RETURNING seq, usage_key`,
      [
        col(() => uuidv7()),
        col((d) => d.key),
        col((d) => (d.dims.periodStart + HOUR_MS <= W ? 'correction' : 'usage')),
        col((d) => iso(d.dims.periodStart)),
        col((d) => d.dims.orgId),
        col((d) => d.dims.userId),
        col((d) => d.dims.notebookId),
        col((d) => d.dims.kernelId),
        col((d) => d.dims.executionId),
        col((d) => d.dims.cellId),
        col((d) => d.dims.agentRunId),
        col((d) => d.dims.resource),
        col((d) => d.dims.sku),
        col((d) => d.dims.chargeTo),
        col((d) => RESOURCES[d.dims.resource].baseUnit),
        col((d) => d.base.toString()),
        col((d) => d.count),
        col((d) => (d.first === null ? null : iso(d.first))),
        iso(W),
        col((d) => (d.last === null ? null : iso(d.last))),
      ],
    );
    const seqOf = new Map(rows.map((r) => [r.usage_key, r.seq]));
    await c.query(
      `INSERT INTO ${t.current} (usage_key, period_start, org_id, user_id, notebook_id, kernel_id, execution_id, cell_id,
                                 agent_run_id, resource, sku, charge_to, base_unit, base_quantity, event_count,
                                 first_event_time, last_event_time, last_seq)
       SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::numeric[],
                            $15::int[], $16::timestamptz[], $17::timestamptz[], $18::bigint[])
       ON CONFLICT (usage_key) DO UPDATE SET base_quantity = EXCLUDED.base_quantity, event_count = EXCLUDED.event_count,
              first_event_time = EXCLUDED.first_event_time, last_event_time = EXCLUDED.last_event_time,
              last_seq = EXCLUDED.last_seq`,
      [
        col((d) => d.key),
        col((d) => iso(d.dims.periodStart)),
        col((d) => d.dims.orgId),
        col((d) => d.dims.userId),
        col((d) => d.dims.notebookId),
        col((d) => d.dims.kernelId),
        col((d) => d.dims.executionId),
        col((d) => d.dims.cellId),
        col((d) => d.dims.agentRunId),
        col((d) => d.dims.resource),
        col((d) => d.dims.sku),
        col((d) => d.dims.chargeTo),
        col((d) => RESOURCES[d.dims.resource].baseUnit),
        col((d) => d.newBase.toString()),
        col((d) => d.newCount),
        col((d) => (d.first === null ? null : iso(d.first))),
        col((d) => (d.last === null ? null : iso(d.last))),
        col((d) => seqOf.get(d.key)!),
      ],
    );

    // Rated lines: org × month × user × notebook × resource × SKU × payer.
    const lineDeltas = new Map<string, { dims: UsageDims; month: number; base: bigint }>();
    for (const d of deltas) {
      if (d.base === 0n) continue;
      const month = monthStart(d.dims.periodStart);
      const key = lineKey(month, d.dims);
      const l = lineDeltas.get(key) ?? { dims: d.dims, month, base: 0n };
      l.base += d.base;
      lineDeltas.set(key, l);
    }
    if (!lineDeltas.size) return;
    const lines = [...lineDeltas].sort(([a], [b]) => (a < b ? -1 : 1));
    const { rows: updated } = await c.query<{
      line_key: string;
      base: string;
      published_quantity: string;
      published_amount: string;
    }>(
      `INSERT INTO ${t.lines} (line_key, org_id, month, user_id, notebook_id, resource, sku, charge_to, base_quantity)
       SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                            $9::numeric[])
       ON CONFLICT (line_key) DO UPDATE SET base_quantity = ${t.lines}.base_quantity + EXCLUDED.base_quantity,
              updated_at = clock_timestamp()
       RETURNING line_key, base_quantity::text AS base, published_quantity::text, published_amount::text`,
      [
        lines.map(([k]) => k),
        lines.map(([, l]) => l.dims.orgId),
        lines.map(([, l]) => iso(l.month).slice(0, 10)),
        lines.map(([, l]) => l.dims.userId),
        lines.map(([, l]) => l.dims.notebookId),
        lines.map(([, l]) => l.dims.resource),
        lines.map(([, l]) => l.dims.sku),
        lines.map(([, l]) => l.dims.chargeTo),
        lines.map(([, l]) => l.base.toString()),
      ],
    );
    if (this.opts.publish) {
      const byKey = new Map(lines);
      const pubKeys: string[] = [];
      const pubQ: string[] = [];
      const pubA: string[] = [];
      for (const u of updated) {
        const l = byKey.get(u.line_key)!;
        const spec = RESOURCES[l.dims.resource];
        const price = this.prices.price(l.dims.sku, l.dims.resource, l.month);
        const base = BigInt(u.base);
        const quantity = baseToQuantity(base, spec.factor, QUANTITY_SCALE);
        const amount = amountOf(base, spec.factor, price.unitPrice, AMOUNT_SCALE);
        const dq = subDecimal(quantity, u.published_quantity, QUANTITY_SCALE);
        const da = subDecimal(amount, u.published_amount, AMOUNT_SCALE);
        if (compareDecimal(dq, '0') === 0 && compareDecimal(da, '0') === 0) continue;
        const rated = {
          ledgerEntryId: uuidv7(),
          orgId: l.dims.orgId,
          userId: l.dims.userId,
          notebookId: l.dims.notebookId,
          kernelId: null,
          resource: l.dims.resource,
          quantity: dq,
          unit: spec.unit,
          unitPrice: price.unitPrice,
          amount: da,
          currency: price.currency,
          periodStart: iso(l.month),
          periodEnd: iso(nextMonth(l.month)),
        };
        // billing.usage.v1 v1 does not know `agent-cost` yet: such lines stay unpublished (and are
        // published from their running totals once the contract lists the resource).
        if (!UsageRated.data.safeParse(rated).success) continue;
        await this.outbox.add(c, UsageRated, l.dims.orgId, rated as EventData<typeof UsageRated>);
        pubKeys.push(u.line_key);
        pubQ.push(quantity);
        pubA.push(amount);
      }
      if (pubKeys.length) {
        await c.query(
          `UPDATE ${t.lines} AS l SET published_quantity = u.q, published_amount = u.a
             FROM unnest($1::text[], $2::numeric[], $3::numeric[]) AS u(k, q, a) WHERE l.line_key = u.k`,
          [pubKeys, pubQ, pubA],
        );
      }
    }
    const orgMonths = new Map<string, { orgId: string; month: number }>();
    for (const [, l] of lines)
      orgMonths.set(`${l.dims.orgId}|${l.month}`, { orgId: l.dims.orgId, month: l.month });
    await this.evaluateQuotas(c, [...orgMonths.values()]);
  }

  /** Sends QuotaWarning (80 %) and QuotaExceeded (100 %) once per org/user, quota and month. */
  async evaluateQuotas(c: PoolClient, orgMonths: { orgId: string; month: number }[]): Promise<void> {
    if (!orgMonths.length) return;
    const t = this.t;
    const orgs = [...new Set(orgMonths.map((o) => o.orgId))];
    const { rows: quotas } = await c.query<{
      org_id: string;
      user_id: string;
      quota: 'compute' | 'gpu' | 'agent';
      monthly_limit: string;
      hard_cap: boolean;
    }>(
      `SELECT org_id, user_id, quota, monthly_limit::text, hard_cap FROM ${t.quotas} WHERE org_id = ANY($1)`,
      [orgs],
    );
    if (!quotas.length) return;
    for (const om of orgMonths) {
      const qs = quotas.filter((q) => q.org_id === om.orgId);
      if (!qs.length) continue;
      const { rows: used } = await c.query<{
        user_id: string | null;
        resource: string;
        charge_to: string;
        base: string;
      }>(
        `SELECT user_id, resource, charge_to, sum(base_quantity)::text AS base FROM ${t.lines}
          WHERE org_id = $1 AND month = $2 GROUP BY user_id, resource, charge_to`,
        [om.orgId, iso(om.month).slice(0, 10)],
      );
      for (const q of qs) {
        const spec = QUOTA_RESOURCES[q.quota];
        let base = 0n;
        for (const u of used) {
          if (u.resource !== spec.resource || u.charge_to !== spec.chargeTo) continue;
          if (q.user_id !== '' && u.user_id !== q.user_id) continue;
          base += BigInt(u.base);
        }
        if (!isResource(spec.resource)) continue;
        const usedQ = baseToQuantity(base, RESOURCES[spec.resource].factor, QUANTITY_SCALE);
        const usedScaled = toScale(usedQ, QUANTITY_SCALE);
        const limitScaled = toScale(q.monthly_limit, QUANTITY_SCALE);
        const levels: ('warning' | 'exceeded')[] = [];
        if (usedScaled * 10n >= limitScaled * 8n) levels.push('warning');
        if (usedScaled >= limitScaled) levels.push('exceeded');
        for (const level of levels) {
          const { rowCount } = await c.query(
            `INSERT INTO ${t.quotaSignals} (org_id, user_id, quota, month, level, used, monthly_limit)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
            [om.orgId, q.user_id, q.quota, iso(om.month).slice(0, 10), level, usedQ, q.monthly_limit],
          );
          if (!rowCount || !this.opts.publish) continue;
          const fraction = Number(usedQ) / Number(q.monthly_limit);
          const who = q.user_id ? `user ${q.user_id}` : `org ${om.orgId}`;
          const unitLabel = spec.unit.replace('-', ' ');
          await this.outbox.add(c, level === 'warning' ? QuotaWarning : QuotaExceeded, om.orgId, {
            orgId: om.orgId,
            userId: q.user_id || null,
            quota: q.quota,
            used: usedQ,
            limit: q.monthly_limit,
            unit: spec.unit,
            usedFraction: Math.round(fraction * 10_000) / 10_000,
            periodStart: iso(om.month),
            periodEnd: iso(nextMonth(om.month)),
            hardCap: q.hard_cap,
            message:
              level === 'warning'
                ? `The ${who} has used ${Math.floor(fraction * 100)} % of its monthly ${q.quota} quota (${usedQ} of ${q.monthly_limit} ${unitLabel}s).`
                : `The ${who} has used its monthly ${q.quota} quota (${q.monthly_limit} ${unitLabel}s): new kernels are refused until ${iso(nextMonth(om.month)).slice(0, 10)}${q.hard_cap ? '; running kernels are stopped (hard cap)' : '; running kernels keep running'}.`,
          });
        }
      }
    }
  }
}

export function diffUsage(desired: UsageMap, current: Map<string, CurrentRow>): Delta[] {
  const out: Delta[] = [];
  for (const [key, v] of desired) {
    const cur = current.get(key);
    const times = [...v.events.values()];
    const first = times.length ? Math.min(...times) : null;
    const last = times.length ? Math.max(...times) : null;
    const count = v.events.size;
    if (cur && cur.base === v.base && cur.count === count && cur.first === first && cur.last === last)
      continue;
    out.push({
      key,
      dims: v.dims,
      base: v.base - (cur?.base ?? 0n),
      count: count - (cur?.count ?? 0),
      first,
      last,
      newBase: v.base,
      newCount: count,
    });
  }
  for (const [key, cur] of current) {
    if (desired.has(key) || (cur.base === 0n && cur.count === 0)) continue;
    out.push({
      key,
      dims: cur.dims,
      base: -cur.base,
      count: -cur.count,
      first: null,
      last: null,
      newBase: 0n,
      newCount: 0,
    });
  }
  return out;
}

export function monthStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

export function nextMonth(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

export function lineKey(month: number, d: UsageDims): string {
  return [
    iso(month).slice(0, 7),
    d.orgId,
    d.userId ?? '',
    d.notebookId ?? '',
    d.resource,
    d.sku,
    d.chargeTo,
  ].join('|');
}
