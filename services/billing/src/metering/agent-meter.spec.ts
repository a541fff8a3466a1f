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

describe('meterAgentRun with the run statement (AgentRunFinished)', () => {
  const started = e('a', 'AgentRunStarted', 0, {
    notebookId: 'nb',
    kernelId: 'k',
    userId: 'ada',
    budget: {},
  });
  const step = (id: string, t: number, n: number, prompt: number, completion: number, amount?: string) =>
    e(id, 'AgentStep', t, {
      step: n,
      tokens: { prompt, completion },
      execMs: 1,
      ...(amount ? { cost: { amount, currency: 'USD' } } : {}),
    });
  const finished = (t: number, data: Record<string, unknown>) =>
    e('f', 'AgentRunFinished', t, { status: 'succeeded', steps: 2, ...data });
  const sum = (r: ReturnType<typeof meterAgentRun>, res: string) =>
    [...r.usage.values()].filter((v) => v.dims.resource === res).reduce((s, v) => s + v.base, 0n);

  it('tops the steps up to the statement: tokens and cost equal AgentRunFinished', () => {
    const r = meterAgentRun('r1', [
      started,
      step('b', 500, 1, 100, 20, '0.000120'),
      step('c', 1500, 2, 300, 5, '0.000305'),
      // The last LLM call (the one that finished) had no step of its own.
      finished(3000, {
        cost: { amount: '0.0005', currency: 'USD' },
        tokens: { prompt: 450, completion: 25 },
      }),
    ]);
    expect(sum(r, 'agent-tokens')).toBe(475n);
    expect(sum(r, 'agent-cost')).toBe(500_000n); // 0.0005 USD in 10⁻⁹
    expect([...r.usage.values()].find((v) => v.dims.resource === 'agent-cost')!.dims).toMatchObject({
      sku: 'agent-cost/USD',
      chargeTo: 'agent-run',
      agentRunId: 'r1',
    });
  });

  it('books the statement in the finish hour when the steps say more than it', () => {
    const r = meterAgentRun('r1', [
      started,
      step('b', 500, 1, 100, 20, '0.01'),
      finished(3000, { cost: { amount: '0.002', currency: 'USD' }, tokens: { prompt: 50, completion: 0 } }),
    ]);
    expect(sum(r, 'agent-tokens')).toBe(50n);
    expect(sum(r, 'agent-cost')).toBe(2_000_000n);
    for (const v of r.usage.values())
      if (v.dims.resource !== 'agent-steps') expect(v.dims.periodStart).toBe(Date.UTC(2025, 0, 10, 10));
  });

  it('a live run (no statement yet) is the sum of its steps; a statement without tokens keeps them', () => {
    const live = meterAgentRun('r1', [started, step('b', 500, 1, 100, 20, '0.25')]);
    expect(sum(live, 'agent-tokens')).toBe(120n);
    expect(sum(live, 'agent-cost')).toBe(250_000_000n);
    const done = meterAgentRun('r1', [
      started,
      step('b', 500, 1, 100, 20),
      finished(900, { cost: { amount: '0.42', currency: 'USD' } }),
    ]);
    expect(sum(done, 'agent-tokens')).toBe(120n);
    expect(sum(done, 'agent-cost')).toBe(420_000_000n);
  });
});
