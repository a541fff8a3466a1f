import { QuireError } from '@quire/service-kit';
import type { Pool } from 'pg';
import { iso, type Tables } from '../db';
import { addDecimal, amountOf, baseToQuantity } from '../money/decimal';
import type { PriceBooks } from '../rating/price-book';
import { AMOUNT_SCALE, QUANTITY_SCALE, RESOURCES, isResource } from '../rating/resources';
import type { Resource } from '../metering/usage';

/**
 * What an agent run was charged: its ledger (charge_to = agent-run, keyed by
 * the run id), one line per month × resource × SKU, rated with the price book
 * like an invoice line. None of it is counted in an org's or user's `compute`
 * quota (which counts CPU-seconds charged to the org).
 */
export interface AgentRunChargeLine {
  period: string;
  resource: Resource;
  sku: string;
  quantity: string;
  unit: string;
  unitPrice: string;
  amount: string;
  currency: string;
  priced: boolean;
}

export interface AgentRunCharges {
  orgId: string;
  runId: string;
  userId: string | null;
  notebookId: string | null;
  kernelId: string | null;
  chargeTo: 'agent-run';
  /** Totals over the run's ledger: tokens (prompt + completion), steps, and the LLM cost per currency. */
  tokens: string;
  steps: string;
  cost: { amount: string; currency: string }[];
  lines: AgentRunChargeLine[];
  /** Sum of the lines' amounts (6 places) in the price book's currency. */
  total: { amount: string; currency: string };
}

export async function agentRunCharges(
  pool: Pool,
  t: Tables,
  prices: PriceBooks,
  orgId: string,
  runId: string,
): Promise<AgentRunCharges> {
  const { rows } = await pool.query<{
    period: string;
    user_id: string | null;
    notebook_id: string | null;
    kernel_id: string | null;
    resource: string;
    sku: string;
    base: string;
  }>(
    `SELECT to_char(date_trunc('month', period_start AT TIME ZONE 'UTC'), 'YYYY-MM') AS period,
            min(user_id) AS user_id, min(notebook_id) AS notebook_id, min(kernel_id) AS kernel_id,
            resource, sku, sum(base_quantity)::text AS base
       FROM ${t.current}
      WHERE org_id = $1 AND agent_run_id = $2 AND charge_to = 'agent-run'
      GROUP BY 1, resource, sku HAVING sum(base_quantity) <> 0
      ORDER BY 1, resource, sku`,
    [orgId, runId],
  );
  if (!rows.length) {
    throw new QuireError(
      'not_found',
      `no charges for agent run ${runId} in org ${orgId} (not metered yet, or not this org's run)`,
      'billing.agent_run_not_found',
    );
  }
  const sums = new Map<string, bigint>();
  const lines: AgentRunChargeLine[] = [];
  let total = '0';
  let currency = '';
  for (const r of rows) {
    if (!isResource(r.resource)) continue;
    const spec = RESOURCES[r.resource];
    const base = BigInt(r.base);
    sums.set(r.sku, (sums.get(r.sku) ?? 0n) + base);
    const price = prices.price(r.sku, r.resource, Date.parse(`${r.period}-01T00:00:00Z`));
    const amount = amountOf(base, spec.factor, price.unitPrice, AMOUNT_SCALE);
    total = addDecimal(total, amount, AMOUNT_SCALE);
    currency ||= price.currency;
    lines.push({
      period: r.period,
      resource: r.resource,
      sku: r.sku,
      quantity: baseToQuantity(base, spec.factor, QUANTITY_SCALE),
      unit: spec.unit,
      unitPrice: price.unitPrice,
      amount,
      currency: price.currency,
      priced: price.priced,
    });
  }
  const first = rows[0]!;
  const costs = [...sums].filter(([sku]) => sku.startsWith('agent-cost/'));
  return {
    orgId,
    runId,
    userId: first.user_id,
    notebookId: first.notebook_id,
    kernelId: first.kernel_id,
    chargeTo: 'agent-run',
    tokens: (sums.get('agent-tokens') ?? 0n).toString(),
    steps: (sums.get('agent-steps') ?? 0n).toString(),
    cost: costs.map(([sku, base]) => ({
      amount: baseToQuantity(base, RESOURCES['agent-cost'].factor, QUANTITY_SCALE),
      currency: sku.slice('agent-cost/'.length),
    })),
    lines,
    total: { amount: total, currency: currency || prices.at(Date.now()).currency },
  };
}

export interface AgentRunSummary {
  runId: string;
  userId: string | null;
  notebookId: string | null;
  tokens: string;
  steps: string;
  cost: { amount: string; currency: string }[];
}

/** The agent runs charged in an org's month, with their totals (newest activity first). */
export async function agentRunsOfMonth(
  pool: Pool,
  t: Tables,
  orgId: string,
  monthStartMs: number,
  nextMonthMs: number,
): Promise<AgentRunSummary[]> {
  const { rows } = await pool.query<{
    agent_run_id: string;
    user_id: string | null;
    notebook_id: string | null;
    sku: string;
    base: string;
    last_t: Date | null;
  }>(
    `SELECT agent_run_id, min(user_id) AS user_id, min(notebook_id) AS notebook_id, sku,
            sum(base_quantity)::text AS base, max(last_event_time) AS last_t
       FROM ${t.current}
      WHERE org_id = $1 AND charge_to = 'agent-run' AND period_start >= $2 AND period_start < $3
      GROUP BY agent_run_id, sku HAVING sum(base_quantity) <> 0`,
    [orgId, iso(monthStartMs), iso(nextMonthMs)],
  );
  const runs = new Map<string, AgentRunSummary & { last: number }>();
  for (const r of rows) {
    const run = runs.get(r.agent_run_id) ?? {
      runId: r.agent_run_id,
      userId: r.user_id,
      notebookId: r.notebook_id,
      tokens: '0',
      steps: '0',
      cost: [],
      last: 0,
    };
    run.last = Math.max(run.last, r.last_t?.getTime() ?? 0);
    if (r.sku === 'agent-tokens') run.tokens = r.base;
    else if (r.sku === 'agent-steps') run.steps = r.base;
    else if (r.sku.startsWith('agent-cost/'))
      run.cost.push({
        amount: baseToQuantity(BigInt(r.base), RESOURCES['agent-cost'].factor, QUANTITY_SCALE),
        currency: r.sku.slice('agent-cost/'.length),
      });
    runs.set(r.agent_run_id, run);
  }
  return [...runs.values()]
    .sort((a, b) => b.last - a.last || (a.runId < b.runId ? -1 : 1))
    .map(({ last: _last, ...r }) => r);
}
