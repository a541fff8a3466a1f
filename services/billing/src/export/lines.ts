import type { Pool } from 'pg';
import { iso, type Tables } from '../db';
import { isResource } from '../rating/resources';
import { AMOUNT_SCALE, QUANTITY_SCALE, RESOURCES } from '../rating/resources';
import type { PriceBooks } from '../rating/price-book';
import { addDecimal, amountOf, baseToQuantity, compareDecimal, subDecimal } from '../money/decimal';
import type { Resource } from '../metering/usage';

/**
 * Rated lines: what an invoice and an export show. A line is one billing
 * month × org × user × notebook × resource × SKU × payer, computed from the
 * ledger rows up to a high-water mark (ledger seq). Quantities are summed in
 * exact base units and converted once; the amount is rated once per line
 * (round half away from zero to 6 places), so the same ledger gives the same
 * lines however often its rows were corrected.
 */
export interface RatedLine {
  period: string;
  org: string;
  user: string | null;
  notebook: string | null;
  resource: Resource;
  sku: string;
  chargeTo: string;
  base: bigint;
  quantity: string;
  unit: string;
  unitPrice: string;
  amount: string;
  currency: string;
  priced: boolean;
  eventCount: number;
  firstEventTime: string | null;
  lastEventTime: string | null;
}

export function lineId(
  l: Pick<RatedLine, 'period' | 'user' | 'notebook' | 'resource' | 'sku' | 'chargeTo'>,
): string {
  return [l.period, l.user ?? '', l.notebook ?? '', l.resource, l.sku, l.chargeTo].join('|');
}

export async function ratedLines(
  pool: Pool,
  t: Tables,
  prices: PriceBooks,
  orgId: string,
  from: number,
  to: number,
  hwm: bigint,
): Promise<RatedLine[]> {
  const { rows } = await pool.query<{
    period: string;
    user_id: string | null;
    notebook_id: string | null;
    resource: string;
    sku: string;
    charge_to: string;
    base: string;
    events: string;
    first_t: Date | null;
    last_t: Date | null;
  }>(
    `WITH r AS (
       SELECT * FROM ${t.ledger} WHERE org_id = $1 AND period_start >= $2 AND period_start < $3 AND seq <= $4),
     k AS (
       SELECT usage_key, min(period_start) AS period_start, min(user_id) AS user_id, min(notebook_id) AS notebook_id,
              min(resource) AS resource, min(sku) AS sku, min(charge_to) AS charge_to,
              sum(base_quantity) AS base, sum(event_count) AS events,
              (array_agg(first_event_time ORDER BY seq DESC))[1] AS first_t,
              (array_agg(last_event_time ORDER BY seq DESC))[1] AS last_t
         FROM r GROUP BY usage_key)
     SELECT to_char(date_trunc('month', period_start AT TIME ZONE 'UTC'), 'YYYY-MM') AS period,
            user_id, notebook_id, resource, sku, charge_to, sum(base)::text AS base, sum(events)::text AS events,
            min(first_t) AS first_t, max(last_t) AS last_t
       FROM k GROUP BY 1, 2, 3, 4, 5, 6
       HAVING sum(base) <> 0 OR sum(events) <> 0
       ORDER BY 1, 2 NULLS FIRST, 3 NULLS FIRST, 4, 5, 6`,
    [orgId, iso(from), iso(to), hwm.toString()],
  );
  return rows
    .filter((r) => isResource(r.resource))
    .map((r) => {
      const resource = r.resource as Resource;
      const spec = RESOURCES[resource];
      const monthStart = Date.parse(`${r.period}-01T00:00:00Z`);
      const price = prices.price(r.sku, resource, monthStart);
      const base = BigInt(r.base);
      return {
        period: r.period,
        org: orgId,
        user: r.user_id,
        notebook: r.notebook_id,
        resource,
        sku: r.sku,
        chargeTo: r.charge_to,
        base,
        quantity: baseToQuantity(base, spec.factor, QUANTITY_SCALE),
        unit: spec.unit,
        unitPrice: price.unitPrice,
        amount: amountOf(base, spec.factor, price.unitPrice, AMOUNT_SCALE),
        currency: price.currency,
        priced: price.priced,
        eventCount: Number(r.events),
        firstEventTime: r.first_t?.toISOString() ?? null,
        lastEventTime: r.last_t?.toISOString() ?? null,
      };
    });
}

/** What changed between two cumulative line sets (an incremental export). */
export function diffLines(newer: RatedLine[], older: RatedLine[]): RatedLine[] {
  const old = new Map(older.map((l) => [lineId(l), l]));
  const out: RatedLine[] = [];
  const seen = new Set<string>();
  for (const l of newer) {
    const id = lineId(l);
    seen.add(id);
    const o = old.get(id);
    if (!o) {
      out.push(l);
      continue;
    }
    const quantity = subDecimal(l.quantity, o.quantity, QUANTITY_SCALE);
    const amount = subDecimal(l.amount, o.amount, AMOUNT_SCALE);
    const eventCount = l.eventCount - o.eventCount;
    if (
      compareDecimal(quantity, '0') === 0 &&
      compareDecimal(amount, '0') === 0 &&
      eventCount === 0 &&
      l.firstEventTime === o.firstEventTime &&
      l.lastEventTime === o.lastEventTime
    ) {
      continue;
    }
    out.push({ ...l, base: l.base - o.base, quantity, amount, eventCount });
  }
  for (const [id, o] of old) {
    if (seen.has(id)) continue;
    out.push({
      ...o,
      base: -o.base,
      quantity: subDecimal('0', o.quantity, QUANTITY_SCALE),
      amount: subDecimal('0', o.amount, AMOUNT_SCALE),
      eventCount: -o.eventCount,
    });
  }
  return out.sort((a, b) => (lineId(a) < lineId(b) ? -1 : lineId(a) > lineId(b) ? 1 : 0));
}

export function sumAmounts(lines: readonly RatedLine[]): string {
  return lines.reduce((s, l) => addDecimal(s, l.amount, AMOUNT_SCALE), '0');
}

/** The ledger's high-water mark for one org and period (0 when it has no rows). */
export async function scopeHighWaterMark(
  pool: Pool,
  t: Tables,
  orgId: string,
  from: number,
  to: number,
): Promise<bigint> {
  const { rows } = await pool.query<{ hwm: string | null }>(
    `SELECT max(seq)::text AS hwm FROM ${t.ledger} WHERE org_id = $1 AND period_start >= $2 AND period_start < $3`,
    [orgId, iso(from), iso(to)],
  );
  return BigInt(rows[0]?.hwm ?? '0');
}
