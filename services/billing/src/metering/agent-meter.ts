import { addUsage, byTimeThenId, hourOf, type JournalEvent, type UsageMap } from './usage';

/**
 * Meters one agent run: LLM tokens (prompt + completion) and steps, charged to
 * the run's budget (charge_to = agent-run), never to the user's compute quota.
 * A step number counts once even if the agent re-sent it under a new event id.
 */
export interface AgentMeterResult {
  orgId: string | null;
  usage: UsageMap;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown): bigint => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? BigInt(v) : 0n);

export function meterAgentRun(runId: string, unsorted: readonly JournalEvent[]): AgentMeterResult {
  const events = [...unsorted].sort(byTimeThenId);
  const usage: UsageMap = new Map();
  const started = events.find((e) => e.type === 'quire.agent.AgentRunStarted');
  const orgId = started?.tenant ?? events[0]?.tenant ?? null;
  if (orgId === null) return { orgId, usage };
  const steps = new Map<number, JournalEvent>();
  for (const e of events) {
    if (e.type !== 'quire.agent.AgentStep') continue;
    const n = typeof e.data.step === 'number' ? e.data.step : NaN;
    if (!steps.has(n)) steps.set(n, e);
  }
  for (const step of steps.values()) {
    const tokens = step.data.tokens as { prompt?: unknown; completion?: unknown } | undefined;
    const base = {
      periodStart: hourOf(step.time),
      orgId,
      userId: str(started?.data.userId),
      notebookId: str(started?.data.notebookId),
      kernelId: str(started?.data.kernelId),
      executionId: null,
      cellId: null,
      agentRunId: runId,
      chargeTo: 'agent-run' as const,
    };
    addUsage(
      usage,
      { ...base, resource: 'agent-tokens', sku: 'agent-tokens' },
      int(tokens?.prompt) + int(tokens?.completion),
      [step],
    );
    addUsage(usage, { ...base, resource: 'agent-steps', sku: 'agent-steps' }, 1n, [step]);
  }
  return { orgId, usage };
}
