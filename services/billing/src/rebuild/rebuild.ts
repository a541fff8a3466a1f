import { uuidv7 } from '@quire/contracts';
import type { ConsumerLogger } from '@quire/contracts/kafka';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { BillingConfig } from '../config';
import { Tables } from '../db';
import { BillingRuntime, SOURCE_TOPICS } from '../runtime/billing-runtime';
import { addDecimal } from '../money/decimal';
import { AMOUNT_SCALE } from '../rating/resources';
import type { PriceBooks } from '../rating/price-book';
import { ratedLines } from '../export/lines';

/**
 * `quire billing rebuild`: replays every source topic from offset 0 into a
 * fresh schema with the same code (a throwaway consumer group, no DLQ writes,
 * nothing published), meters it to the end, and compares its totals with the
 * live ledger's.
 */
export interface LedgerTotals {
  /** One row per org × month × user × notebook × kernel × agent run × resource × SKU × payer with a non-zero sum. */
  rows: { key: string; base: string }[];
  digest: string;
  events: number;
  eventIdsDigest: string;
  /** Invoice subtotal per org and month. */
  invoices: Record<string, string>;
}

export interface RebuildReport {
  id: string;
  state: 'running' | 'done' | 'failed';
  schema: string;
  startedAt: string;
  finishedAt?: string;
  error?: string;
  /** Where the replay stopped: the end of every partition when it started. */
  endOffsets?: Record<string, string>;
  /** The live ledger's offsets at comparison time; equal to endOffsets when it had read exactly as much. */
  liveOffsets?: Record<string, string>;
  sameInput?: boolean;
  live?: Omit<LedgerTotals, 'rows'>;
  rebuilt?: Omit<LedgerTotals, 'rows'>;
  identical?: boolean;
  differences?: { key: string; live: string | null; rebuilt: string | null }[];
}

export async function ledgerTotals(pool: Pool, t: Tables, prices: PriceBooks): Promise<LedgerTotals> {
  const { rows } = await pool.query<{ key: string; base: string }>(
    `SELECT concat_ws('|', to_char(date_trunc('month', period_start AT TIME ZONE 'UTC'), 'YYYY-MM'), org_id,
                      coalesce(user_id, ''), coalesce(notebook_id, ''), coalesce(kernel_id, ''),
                      coalesce(agent_run_id, ''), resource, sku, charge_to) AS key,
            sum(base_quantity)::text AS base
       FROM ${t.ledger} GROUP BY 1 HAVING sum(base_quantity) <> 0 ORDER BY 1`,
  );
  const { rows: ev } = await pool.query<{ n: string; digest: string | null }>(
    `SELECT count(*)::text AS n, md5(string_agg(event_id::text, ',' ORDER BY event_id)) AS digest FROM ${t.journal}`,
  );
  const { rows: om } = await pool.query<{ org_id: string; month: string }>(
    `SELECT DISTINCT org_id, to_char(date_trunc('month', period_start AT TIME ZONE 'UTC'), 'YYYY-MM') AS month
       FROM ${t.ledger} ORDER BY 1, 2`,
  );
  const { rows: h } = await pool.query<{ hwm: string | null }>(
    `SELECT max(seq)::text AS hwm FROM ${t.ledger}`,
  );
  const hwm = BigInt(h[0]?.hwm ?? '0');
  const invoices: Record<string, string> = {};
  for (const { org_id, month } of om) {
    const from = Date.parse(`${month}-01T00:00:00Z`);
    const d = new Date(from);
    const to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    const lines = await ratedLines(pool, t, prices, org_id, from, to, hwm);
    invoices[`${org_id}|${month}`] = lines.reduce((s, l) => addDecimal(s, l.amount, AMOUNT_SCALE), '0');
  }
  return {
    rows,
    digest: createHash('sha256').update(JSON.stringify(rows)).digest('hex'),
    events: Number(ev[0]?.n ?? 0),
    eventIdsDigest: ev[0]?.digest ?? '',
    invoices,
  };
}

export class Rebuilds {
  private readonly jobs = new Map<string, RebuildReport>();

  constructor(
    private readonly cfg: BillingConfig,
    private readonly live: BillingRuntime,
    private readonly log: ConsumerLogger,
  ) {}

  get(id: string): RebuildReport | undefined {
    return this.jobs.get(id);
  }

  start(): RebuildReport {
    const stamp = new Date()
      .toISOString()
      .replace(/[-:T.Z]/g, '')
      .slice(0, 14);
    const schema = `${this.live.tables.schema}_rb_${stamp}`.slice(0, 63);
    const report: RebuildReport = {
      id: uuidv7(),
      state: 'running',
      schema,
      startedAt: new Date().toISOString(),
    };
    this.jobs.set(report.id, report);
    void this.run(report).catch((err: Error) => {
      report.state = 'failed';
      report.error = err.message;
      report.finishedAt = new Date().toISOString();
      this.log.error('rebuild failed', { schema, error: err.stack ?? err.message });
    });
    return report;
  }

  private async run(report: RebuildReport): Promise<void> {
    const admin = this.live.kafka.admin();
    await admin.connect();
    const groupId = `${this.cfg.QUIRE_BILLING_GROUP_ID}-rebuild-${report.schema}`;
    const replay = new BillingRuntime(
      this.cfg,
      { schema: report.schema, groupId, consume: true, meter: false, publish: false, deadLetter: false },
      this.log,
    );
    try {
      const end: Record<string, string> = {};
      for (const topic of SOURCE_TOPICS.map((x) => this.live.topicName(x))) {
        for (const p of await admin.fetchTopicOffsets(topic)) end[`${topic}:${p.partition}`] = p.high;
      }
      report.endOffsets = end;
      await replay.start();
      // Ingest up to where the log ended when the rebuild began.
      for (;;) {
        const st = await replay.status();
        const got = new Map(st.offsets.map((o) => [`${o.topic}:${o.partition}`, BigInt(o.nextOffset)]));
        if (Object.entries(end).every(([k, high]) => (got.get(k) ?? 0n) >= BigInt(high))) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await replay.stopConsuming();
      // Meter it all (this schema has no other metering process).
      for (;;) {
        await replay.meter.round();
        if ((await replay.status()).caughtUp) break;
      }
      const liveStatus = await this.live.status();
      report.liveOffsets = Object.fromEntries(
        liveStatus.offsets.map((o) => [`${o.topic}:${o.partition}`, o.nextOffset]),
      );
      report.sameInput = Object.entries(end).every(([k, v]) => (report.liveOffsets?.[k] ?? '0') === v);
      const [a, b] = await Promise.all([
        ledgerTotals(this.live.pool, this.live.tables, this.live.prices),
        ledgerTotals(replay.pool, new Tables(report.schema), replay.prices),
      ]);
      const la = new Map(a.rows.map((r) => [r.key, r.base]));
      const lb = new Map(b.rows.map((r) => [r.key, r.base]));
      const differences: RebuildReport['differences'] = [];
      for (const k of new Set([...la.keys(), ...lb.keys()])) {
        if (la.get(k) !== lb.get(k))
          differences.push({ key: k, live: la.get(k) ?? null, rebuilt: lb.get(k) ?? null });
      }
      const { rows: _ra, ...liveSummary } = a;
      const { rows: _rb, ...rebuiltSummary } = b;
      report.live = liveSummary;
      report.rebuilt = rebuiltSummary;
      report.identical =
        differences.length === 0 &&
        a.digest === b.digest &&
        JSON.stringify(a.invoices) === JSON.stringify(b.invoices) &&
        a.eventIdsDigest === b.eventIdsDigest;
      report.differences = differences.slice(0, 50);
      report.state = 'done';
      report.finishedAt = new Date().toISOString();
      this.log.info('rebuild done', {
        schema: report.schema,
        identical: report.identical,
        sameInput: report.sameInput,
      });
    } finally {
      await replay.stop().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect();
    }
  }
}
