import { toScale } from '../money/decimal';
import { addUsage, byTimeThenId, hourOf, type JournalEvent, type UsageDims, type UsageMap } from './usage';

/**
 * Meters one agent run: its LLM tokens (prompt + completion), steps and LLM
 * cost, all charged to the run's budget (charge_to = agent-run), never to a
 * user's compute quota.
 *
 * - Each step is booked in its hour, once per step number (a step re-sent
 *   under a new event id counts once).
 * - `AgentRunFinished` is the run's statement: when it carries `tokens` its
 *   total is the run's token total, and its `cost` is the run's cost. What the
 *   steps did not cover (an LLM call that ended the run, a step that never
 *   arrived) is booked in the finish hour; if the steps add up to more than
 *   the statement, the whole run is booked in the finish hour at the
 *   statement's figures. So a finished run's charges always equal its
 *   `AgentRunFinished`, and a live run's equal the sum of its steps so far.
 * - Cost is metered in 10⁻⁹ of its currency, SKU `agent-cost/<currency>`.
 */
export interface AgentMeterResult {
  orgId: string | null;
  usage: UsageMap;
}

const COST_SCALE = 9;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown): bigint => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? BigInt(v) : 0n);

interface Cost {
  nanos: bigint;
  currency: string;
}

function costOf(v: unknown): Cost | null {
  const c = v as { amount?: unknown; currency?: unknown } | undefined;
  if (typeof c?.amount !== 'string' || typeof c.currency !== 'string') return null;
  try {
    return { nanos: toScale(c.amount, COST_SCALE), currency: c.currency };
  } catch {
    return null;
  }
}

function tokensOf(v: unknown): bigint | null {
  const t = v as { prompt?: unknown; completion?: unknown } | undefined;
  if (!t || typeof t !== 'object') return null;
  return int(t.prompt) + int(t.completion);
}

export function meterAgentRun(runId: string, unsorted: readonly JournalEvent[]): AgentMeterResult {
  const events = [...unsorted].sort(byTimeThenId);
  const usage: UsageMap = new Map();
  const started = events.find((e) => e.type === 'quire.agent.AgentRunStarted');
  const finished = events.find((e) => e.type === 'quire.agent.AgentRunFinished');
  const orgId = started?.tenant ?? events[0]?.tenant ?? null;
  if (orgId === null) return { orgId, usage };
  const steps = new Map<number, JournalEvent>();
  for (const e of events) {
    if (e.type !== 'quire.agent.AgentStep') continue;
    const n = typeof e.data.step === 'number' ? e.data.step : NaN;
    if (!steps.has(n)) steps.set(n, e);
  }
  const dims = (periodStart: number, resource: UsageDims['resource'], sku: string): UsageDims => ({
    periodStart,
    orgId,
    userId: str(started?.data.userId),
    notebookId: str(started?.data.notebookId),
    kernelId: str(started?.data.kernelId),
    executionId: null,
    cellId: null,
    agentRunId: runId,
    resource,
    sku,
    chargeTo: 'agent-run',
  });

  // What the steps say, per hour.
  const stepTokens: { hour: number; base: bigint; ev: JournalEvent }[] = [];
  const stepCosts: { hour: number; cost: Cost; ev: JournalEvent }[] = [];
  for (const step of steps.values()) {
    const hour = hourOf(step.time);
    stepTokens.push({ hour, base: tokensOf(step.data.tokens) ?? 0n, ev: step });
    const cost = costOf(step.data.cost);
    if (cost) stepCosts.push({ hour, cost, ev: step });
  }

  // Tokens: the steps, topped up (or replaced) by the statement.
  const finishHour = finished ? hourOf(finished.time) : 0;
  const statedTokens = finished ? tokensOf(finished.data.tokens) : null;
  const stepTokenSum = stepTokens.reduce((s, x) => s + x.base, 0n);
  if (finished && statedTokens !== null && stepTokenSum > statedTokens) {
    addUsage(usage, dims(finishHour, 'agent-tokens', 'agent-tokens'), statedTokens, [
      finished,
      ...stepTokens.map((x) => x.ev),
    ]);
  } else {
    for (const x of stepTokens) addUsage(usage, dims(x.hour, 'agent-tokens', 'agent-tokens'), x.base, [x.ev]);
    if (finished && statedTokens !== null)
      addUsage(usage, dims(finishHour, 'agent-tokens', 'agent-tokens'), statedTokens - stepTokenSum, [
        finished,
      ]);
  }

  for (const step of steps.values())
    addUsage(usage, dims(hourOf(step.time), 'agent-steps', 'agent-steps'), 1n, [step]);

  // Cost: the same rule, per currency.
  const statedCost = finished ? costOf(finished.data.cost) : null;
  const sameCurrency = stepCosts.filter(
    (x) => statedCost === null || x.cost.currency === statedCost.currency,
  );
  const stepCostSum = sameCurrency.reduce((s, x) => s + x.cost.nanos, 0n);
  const skuOf = (c: Cost) => `agent-cost/${c.currency}`;
  if (finished && statedCost !== null && stepCostSum > statedCost.nanos) {
    addUsage(usage, dims(finishHour, 'agent-cost', skuOf(statedCost)), statedCost.nanos, [
      finished,
      ...sameCurrency.map((x) => x.ev),
    ]);
  } else {
    for (const x of sameCurrency)
      addUsage(usage, dims(x.hour, 'agent-cost', skuOf(x.cost)), x.cost.nanos, [x.ev]);
    if (finished && statedCost !== null)
      addUsage(usage, dims(finishHour, 'agent-cost', skuOf(statedCost)), statedCost.nanos - stepCostSum, [
        finished,
      ]);
  }
  return { orgId, usage };
}
