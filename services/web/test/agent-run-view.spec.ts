import { DEFAULT_AGENT_BUDGET, type AgentRunDto, type AgentStepDto } from '@quire/contracts';
import {
  addDecimal,
  applyAgentEvent,
  EMPTY_RUN,
  pendingChanges,
  runStatusText,
  runTotals,
  type AgentRunLive,
} from '../src/agent/agent-run-view';
import { SseParser } from '../src/agent/sse-parser';

const run = (over: Partial<AgentRunDto> = {}): AgentRunDto => ({
  runId: 'ar-1',
  notebookId: 'nb-1',
  kernelId: 'k-1',
  userId: 'u-1',
  userName: 'Alice',
  goal: 'find the anomalies',
  mode: 'review',
  dryRun: false,
  status: 'running',
  finishReason: null,
  summary: null,
  provider: { kind: 'openai', model: 'm' },
  budget: DEFAULT_AGENT_BUDGET,
  usage: { steps: 0, promptTokens: 0, completionTokens: 0, cost: '0', wallMs: 0 },
  steps: [],
  changes: [],
  undone: false,
  startedAt: '2026-12-02T10:00:00.000Z',
  finishedAt: null,
  ...over,
});

const step = (n: number, over: Partial<AgentStepDto> = {}): AgentStepDto => ({
  step: n,
  summary: `step ${n}`,
  tool: 'run_cell',
  cellId: `c${n}`,
  code: `x = ${n}`,
  outputSummary: `${n}`,
  tokens: { prompt: 100 * n, completion: 10 * n },
  cost: '0.0015',
  execMs: 20,
  dryRun: false,
  at: '2026-12-02T10:00:01.000Z',
  ...over,
});

describe('agent run view from the event stream', () => {
  it('collects steps in order, replacing a step sent again, and streams the model text of the step in progress', () => {
    let s: AgentRunLive = applyAgentEvent(EMPTY_RUN, { type: 'run', run: run() });
    s = applyAgentEvent(s, { type: 'token', step: 1, text: 'Load' });
    s = applyAgentEvent(s, { type: 'token', step: 1, text: 'ing the CSV' });
    expect(s.streaming).toEqual({ step: 1, text: 'Loading the CSV' });
    expect(runStatusText(s)).toBe('Running — step 1');
    s = applyAgentEvent(s, { type: 'step', step: step(2) });
    s = applyAgentEvent(s, { type: 'step', step: step(1) });
    expect(s.steps.map((x) => x.step)).toEqual([1, 2]);
    expect(s.streaming).toBeNull(); // step 1 arrived: its draft text is replaced by the step
    s = applyAgentEvent(s, { type: 'step', step: step(2, { summary: 'step 2, corrected' }) });
    expect(s.steps.map((x) => x.summary)).toEqual(['step 1', 'step 2, corrected']);
    expect(runStatusText(s)).toBe('Running — step 3');
  });

  it('a reconnect (a fresh run event) keeps the steps seen and adds the ones missed', () => {
    let s = applyAgentEvent(EMPTY_RUN, { type: 'run', run: run() });
    s = applyAgentEvent(s, { type: 'step', step: step(1) });
    s = applyAgentEvent(s, { type: 'run', run: run({ steps: [step(1), step(2), step(3)] }) });
    expect(s.steps.map((x) => x.step)).toEqual([1, 2, 3]);
    expect(s.finished).toBe(false);
  });

  it('totals add exact decimal costs and never go below the run’s own usage', () => {
    let s = applyAgentEvent(EMPTY_RUN, { type: 'run', run: run() });
    for (const n of [1, 2, 3]) s = applyAgentEvent(s, { type: 'step', step: step(n, { cost: '0.1' }) });
    expect(runTotals(s)).toEqual({ steps: 3, tokens: 660, cost: '0.3', wallMs: 0 });
    s = applyAgentEvent(s, {
      type: 'finished',
      run: run({
        status: 'succeeded',
        finishReason: 'finished',
        usage: { steps: 4, promptTokens: 900, completionTokens: 90, cost: '0.450000', wallMs: 61_000 },
      }),
    });
    expect(runTotals(s)).toEqual({ steps: 4, tokens: 990, cost: '0.45', wallMs: 61_000 });
    expect(addDecimal('0.1', '0.2')).toBe('0.3');
    expect(addDecimal('1.999999', '0.000001')).toBe('2');
  });

  it('ends on finished: late tokens are ignored, the reason is said in words', () => {
    let s = applyAgentEvent(EMPTY_RUN, { type: 'run', run: run() });
    s = applyAgentEvent(s, {
      type: 'finished',
      run: run({ status: 'budget_exhausted', finishReason: 'max_steps' }),
    });
    expect(s.finished).toBe(true);
    expect(applyAgentEvent(s, { type: 'token', step: 9, text: 'late' })).toBe(s);
    expect(runStatusText(s)).toBe('Stopped: step budget spent');
    const undone = applyAgentEvent(s, {
      type: 'run',
      run: run({ status: 'stopped', finishReason: 'stopped_by_user', undone: true }),
    });
    expect(runStatusText(undone)).toBe('Stopped — undone');
  });

  it('lists pending changes for review', () => {
    const r = run({
      status: 'awaiting_review',
      changes: [
        { changeId: 'a', kind: 'insert_cell', cellId: 'c1', source: 'df.head()', status: 'pending' },
        { changeId: 'b', kind: 'run_cell', cellId: 'c1', source: 'df.head()', status: 'applied' },
        { changeId: 'c', kind: 'edit_cell', cellId: 'c2', source: 'y = 2', status: 'pending' },
      ],
    });
    expect(pendingChanges(r).map((c) => c.changeId)).toEqual(['a', 'c']);
    expect(runStatusText(applyAgentEvent(EMPTY_RUN, { type: 'run', run: r }))).toBe(
      'Waiting for your review (2 pending changes)',
    );
  });
});

describe('SSE parser', () => {
  it('parses events split anywhere across chunks, with CRLF, comments, ids and multi-line data', () => {
    const text =
      ': keep-alive\r\nid: 7\r\nevent: step\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: token\ndata: {"t":"x"}\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser();
      const got = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(got).toEqual([
        { event: 'step', data: '{"a":\n1}', id: '7' },
        { event: 'token', data: '{"t":"x"}', id: '7' },
      ]);
      expect(p.lastEventId).toBe('7');
    }
  });

  it('keeps an unfinished event until its blank line arrives', () => {
    const p = new SseParser();
    expect(p.push('data: {"x":1}\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'message', data: '{"x":1}', id: null }]);
  });
});
