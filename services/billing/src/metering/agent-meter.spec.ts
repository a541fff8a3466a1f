import { meterAgentRun } from './agent-meter';
import type { JournalEvent } from './usage';

const T0 = Date.UTC(2025, 0, 10, 9, 59, 59);
const e = (id: string, type: string, t: number, data: Record<string, unknown>): JournalEvent => ({
  id,
  type: `quire.agent.${type}`,
  tenant: 'acme',
  time: T0 + t,
  data: { runId: 'r1', ...data },
});

describe('meterAgentRun', () => {
  it('charges tokens and steps to the run, once per step number', () => {
    const events = [
      e('a', 'AgentRunStarted', 0, { notebookId: 'nb', kernelId: 'k', userId: 'ada', budget: {} }),
      e('b', 'AgentStep', 500, { step: 1, tokens: { prompt: 100, completion: 20 }, execMs: 1 }),
      e('c', 'AgentStep', 1500, { step: 2, tokens: { prompt: 300, completion: 5 }, execMs: 1 }),
      // The same step re-sent under a new id: counted once.
      e('d', 'AgentStep', 1600, { step: 2, tokens: { prompt: 300, completion: 5 }, execMs: 1 }),
    ];
    const r = meterAgentRun('r1', events);
    const sum = (res: string) =>
      [...r.usage.values()].filter((v) => v.dims.resource === res).reduce((s, v) => s + v.base, 0n);
    expect(sum('agent-tokens')).toBe(425n);
    expect(sum('agent-steps')).toBe(2n);
    for (const v of r.usage.values())
      expect(v.dims).toMatchObject({ chargeTo: 'agent-run', agentRunId: 'r1', userId: 'ada', kernelId: 'k' });
    // Step 1 at 09:59:59.5, step 2 at 10:00:01: two hours.
    expect(new Set([...r.usage.values()].map((v) => v.dims.periodStart)).size).toBe(2);
  });
});
