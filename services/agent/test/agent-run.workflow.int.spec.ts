import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { DEFAULT_AGENT_BUDGET, type AgentBudgetDto, type AgentRunMode } from '@quire/contracts';
import { platformVar } from '@quire/service-kit';
import { uuidv7 } from '@quire/contracts';
import {
  AGENT_QUERIES,
  AGENT_RUN_WORKFLOW,
  AGENT_SIGNALS,
  agentRunWorkflowId,
  type AgentRunInput,
  type AgentRunLiveState,
  type AgentRunResult,
} from '../src/workflows/agent-run.types';
import {
  busy,
  callTools,
  createFakeActivities,
  FakeWorld,
  toolMessages,
  type KernelBehaviour,
  type ModelTurn,
} from './support/fake-agent-activities';

/**
 * The agent-run workflow on a real Temporal dev server of its own (the
 * platform's Temporal CLI binary; no network: the time-skipping test server
 * cannot be downloaded here), with in-memory activities: each budget, repeat
 * detection, stop, review. Budgets are made small so real time is short.
 */
jest.setTimeout(120_000);

const TASK_QUEUE = `agent-wf-test-${uuidv7()}`;

describe('agentRun workflow (mocked activities)', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const worlds = new Map<string, FakeWorld>();

  beforeAll(async () => {
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
    } catch {
      // installed by another suite in this process
    }
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: platformVar('QUIRE_TEMPORAL_CLI') } },
    });
    const bundle: WorkflowBundleWithSourceMap = await bundleWorkflowCode({
      workflowsPath: require.resolve('../src/workflows'),
      logger: new DefaultLogger('WARN'),
    });
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: bundle,
      activities: createFakeActivities(worlds),
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  function input(
    runId: string,
    over: { mode?: AgentRunMode; budget?: Partial<AgentBudgetDto>; dryRun?: boolean } = {},
  ): AgentRunInput {
    return {
      runId,
      notebookId: `nb-${runId}`,
      orgId: 'org-1',
      kernelId: `k-${runId}`,
      userId: 'u-alice',
      userName: 'Alice',
      goal: 'find the anomalies in sales.csv',
      mode: over.mode ?? 'auto',
      budget: { ...DEFAULT_AGENT_BUDGET, ...over.budget },
      provider: { kind: 'openai', model: 'scripted' },
      ...(over.dryRun ? { dryRun: true } : {}),
    };
  }

  async function start(
    model: ModelTurn,
    kernel?: KernelBehaviour,
    over: Parameters<typeof input>[1] = {},
  ): Promise<{ world: FakeWorld; handle: Awaited<ReturnType<typeof env.client.workflow.start>> }> {
    const runId = uuidv7();
    const world = new FakeWorld(model, kernel);
    worlds.set(runId, world);
    const handle = await env.client.workflow.start(AGENT_RUN_WORKFLOW, {
      taskQueue: TASK_QUEUE,
      workflowId: agentRunWorkflowId(runId),
      args: [input(runId, over)],
    });
    return { world, handle };
  }

  const until = async (what: string, fn: () => boolean, timeoutMs = 20_000) => {
    const end = Date.now() + timeoutMs;
    while (!fn()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  it('auto: inserts and runs a cell, shows its output to the model, finishes with summed tokens and cost', async () => {
    const { world, handle } = await start(
      (req) =>
        req.messages.filter((m) => m.role === 'assistant').length === 0
          ? callTools(
              [{ name: 'insert_cell', args: { source: 'df = load()\ndf.describe()' } }],
              { prompt: 120, completion: 30 },
              1500,
            )
          : callTools(
              [{ name: 'finish', args: { summary: 'two anomalies on 2024-03-02' } }],
              { prompt: 200, completion: 10 },
              2500,
            ),
      () => ({ status: 'ok', shown: 'count 100\nmean 4.2', ms: 12 }),
    );
    const result = (await handle.result()) as AgentRunResult;
    expect(result).toMatchObject({
      status: 'succeeded',
      reason: 'finished',
      summary: 'two anomalies on 2024-03-02',
    });
    expect(result.usage).toMatchObject({
      steps: 2,
      promptTokens: 320,
      completionTokens: 40,
      costMicros: 4000,
    });
    expect(world.cells).toHaveLength(1);
    expect(world.cells[0]).toMatchObject({
      source: 'df = load()\ndf.describe()',
      provenance: { state: 'applied', onBehalfOf: { userId: 'u-alice', name: 'Alice' }, step: 1 },
    });
    expect(world.runs.map((r) => r.cellId)).toEqual([world.cells[0]!.id]);
    // The second request carries the first cell's output as the tool result.
    const shown = toolMessages(world.llmRequests[1]!);
    expect(shown).toHaveLength(1);
    expect(shown[0]!.content).toContain('count 100\nmean 4.2');
    expect(world.steps.map((s) => [s.step.step, s.step.tool, s.step.tokens])).toEqual([
      [1, 'insert_cell', { prompt: 120, completion: 30 }],
      [2, 'finish', { prompt: 200, completion: 10 }],
    ]);
    expect(world.steps[0]!.step.cost).toBe('0.001500');
    expect(world.finished).toMatchObject({ status: 'succeeded', reason: 'finished' });
    expect(world.finished!.changes).toEqual([
      expect.objectContaining({ kind: 'insert_cell', status: 'applied', cellId: world.cells[0]!.id }),
    ]);
  });

  it('max_steps: the step budget ends the run after exactly that many LLM calls', async () => {
    let n = 0;
    const { world, handle } = await start(
      () => callTools([{ name: 'insert_cell', args: { source: `x${++n} = ${n}` } }]),
      undefined,
      {
        budget: { maxSteps: 3 },
      },
    );
    const result = (await handle.result()) as AgentRunResult;
    expect(result).toMatchObject({ status: 'budget_exhausted', reason: 'max_steps' });
    expect(world.llmRequests).toHaveLength(3);
    expect(world.runs).toHaveLength(3);
  });

  it('max_tokens: stops once the tokens are spent and never asks for more completion tokens than are left', async () => {
    const { world, handle } = await start(
      () => callTools([{ name: 'read_notebook', args: {} }], { prompt: 300, completion: 100 }),
      undefined,
      { budget: { maxTokens: 1000 } },
    );
    const result = (await handle.result()) as AgentRunResult;
    expect(result).toMatchObject({ status: 'budget_exhausted', reason: 'max_tokens' });
    expect(world.llmRequests).toHaveLength(3);
    expect(world.llmRequests.map((r) => r.maxTokens)).toEqual([1000, 600, 200]);
    expect(result.usage.promptTokens + result.usage.completionTokens).toBe(1200);
  });

  it('max_cost: stops once the money is spent', async () => {
    const { world, handle } = await start(
      () => callTools([{ name: 'read_notebook', args: {} }], undefined, 300_000),
      undefined,
      { budget: { maxCost: '0.50' } },
    );
    const result = (await handle.result()) as AgentRunResult;
    expect(result).toMatchObject({ status: 'budget_exhausted', reason: 'max_cost' });
    expect(world.llmRequests).toHaveLength(2);
    expect(world.finished!.usage.costMicros).toBe(600_000);
  });

  it('max_wall_time: a cell still running when the time is up is interrupted, and no LLM call follows', async () => {
    const { world, handle } = await start(
      () => callTools([{ name: 'insert_cell', args: { source: 'while True: pass' } }]),
      async () => ((await busy(30_000)) ? { status: 'ok' } : { status: 'interrupted' }),
      { budget: { maxWallMs: 2500 } },
    );
    const result = (await handle.result()) as AgentRunResult;
    expect(result).toMatchObject({ status: 'budget_exhausted', reason: 'max_wall_time' });
    expect(world.llmRequests).toHaveLength(1);
    expect(world.interrupts).toHaveLength(1);
    expect(world.interrupts[0]!.cellId).toBe(world.cells[0]!.id);
  });

  it('repeat detection: the same error three times ends the run with repeated_failure', async () => {
    let n = 0;
    const { world, handle } = await start(
      () =>
        callTools([
          { name: 'insert_cell', args: { source: `df${++n} = pd.read_csv("sales.csv")["price"]` } },
        ]),
      () => ({
        status: 'error',
        shown: "KeyError: 'price'",
        error: { ename: 'KeyError', evalue: "'price'" },
      }),
    );
    const result = (await handle.result()) as AgentRunResult;
    expect(result).toMatchObject({ status: 'failed', reason: 'repeated_failure' });
    expect(result.summary).toContain("KeyError: 'price'");
    expect(world.runs).toHaveLength(3);
    expect(world.llmRequests).toHaveLength(3);
  });

  it('repeat detection: the same failing code three times (re-spaced, different errors) ends the run', async () => {
    let n = 0;
    const codes = ['x = 1/0', 'x  =  1/0', '  x = 1/0\n'];
    const { world, handle } = await start(
      () => callTools([{ name: 'insert_cell', args: { source: codes[n++ % 3]! } }]),
      () => ({ status: 'error', error: { ename: 'ZeroDivisionError', evalue: `attempt ${n}` } }),
    );
    const result = (await handle.result()) as AgentRunResult;
    expect(result).toMatchObject({ reason: 'repeated_failure', summary: 'the same code failed 3 times' });
    expect(world.runs).toHaveLength(3);
  });

  it('stop while a cell runs: the cell is interrupted and no LLM call follows', async () => {
    const { world, handle } = await start(
      () => callTools([{ name: 'insert_cell', args: { source: 'import time; time.sleep(600)' } }]),
      async () => ((await busy(60_000)) ? { status: 'ok' } : { status: 'interrupted' }),
    );
    await until('the cell is running', () => world.runs.length === 1);
    const stoppedAt = Date.now();
    await handle.signal(AGENT_SIGNALS.stop);
    const result = (await handle.result()) as AgentRunResult;
    expect(result).toMatchObject({ status: 'stopped', reason: 'stopped_by_user' });
    expect(world.interrupts).toHaveLength(1);
    // Recorded here only; the within-1-s promise is measured end to end in the integration test.
    console.log(
      `interrupt reached the kernel fake ${world.interrupts[0]!.at - stoppedAt} ms after the stop signal`,
    );
    expect(world.llmRequests).toHaveLength(1);
    expect(world.steps).toHaveLength(1);
  });

  it('stop during an LLM call: the call is abandoned and no other follows', async () => {
    let calls = 0;
    const { world, handle } = await start(async () => {
      calls++;
      await busy(60_000);
      return callTools([{ name: 'read_notebook', args: {} }]);
    });
    await until('the model is asked', () => calls === 1);
    await handle.signal(AGENT_SIGNALS.stop);
    const result = (await handle.result()) as AgentRunResult;
    expect(result.reason).toBe('stopped_by_user');
    expect(calls).toBe(1);
    expect(world.steps).toHaveLength(0);
  });

  it('review: a proposed cell is pending and does not run until accepted; a rejected one is removed', async () => {
    const { world, handle } = await start(
      (req) => {
        const turn = req.messages.filter((m) => m.role === 'assistant').length;
        if (turn === 0) return callTools([{ name: 'insert_cell', args: { source: 'df.head()' } }]);
        if (turn === 1)
          return callTools([{ name: 'insert_cell', args: { source: 'import os; os.remove("sales.csv")' } }]);
        return callTools([{ name: 'finish', args: { summary: 'done' } }]);
      },
      () => ({ status: 'ok', shown: 'a b\n1 2' }),
      { mode: 'review' },
    );
    const state = () => handle.query<AgentRunLiveState>(AGENT_QUERIES.state);
    await until('the first proposal', () => world.cells.length === 1);
    await until('awaiting review', () => world.progress.some((p) => p.status === 'awaiting_review'));
    expect(world.cells[0]!.provenance).toMatchObject({ state: 'pending', runId: expect.any(String) });
    expect((await state()).status).toBe('awaiting_review');
    // Nothing runs while it waits.
    await new Promise((r) => setTimeout(r, 500));
    expect(world.runs).toHaveLength(0);
    const [first] = (await state()).changes;
    expect(first).toMatchObject({ kind: 'insert_cell', status: 'pending', source: 'df.head()' });

    await handle.signal(AGENT_SIGNALS.review, { decision: 'accept', changeIds: [first!.changeId] });
    await until('the accepted cell ran', () => world.runs.length === 1);
    expect(world.runs[0]!.code).toBe('df.head()');

    await until('the second proposal', () => world.cells.length === 2);
    await until(
      'awaiting review again',
      () => world.progress.filter((p) => p.status === 'awaiting_review').length >= 2,
    );
    await handle.signal(AGENT_SIGNALS.review, { decision: 'reject' });
    const result = (await handle.result()) as AgentRunResult;
    expect(result).toMatchObject({ reason: 'finished' });
    expect(world.runs).toHaveLength(1);
    expect(world.cells.map((c) => c.source)).toEqual(['df.head()']);
    expect(world.cells[0]!.provenance!.state).toBe('applied');
    expect(result.changes.map((c) => c.status)).toEqual(['applied', 'rejected']);
    // The model was told about the rejection.
    expect(toolMessages(world.llmRequests[2]!).at(-1)!.content).toMatch(
      /rejected this change and the cell was removed/,
    );
  });

  it('dry run: each proposal runs in a fork first (shown with the change), live only after accept; forks are discarded', async () => {
    const { world, handle } = await start(
      (req) => {
        const turn = req.messages.filter((m) => m.role === 'assistant').length;
        if (turn === 0) return callTools([{ name: 'insert_cell', args: { source: 'del df' } }]);
        if (turn === 1) return callTools([{ name: 'insert_cell', args: { source: 'df = None' } }]);
        return callTools([{ name: 'finish', args: { summary: 'done' } }]);
      },
      (code) => ({ status: 'ok', shown: `ran ${code}` }),
      { mode: 'review', dryRun: true },
    );
    const state = () => handle.query<AgentRunLiveState>(AGENT_QUERIES.state);
    await until('the first dry run', () => world.dryRuns.length === 1);
    await until('awaiting review', () => world.progress.some((p) => p.status === 'awaiting_review'));
    const [first] = (await state()).changes;
    expect(first).toMatchObject({
      status: 'pending',
      dryRun: { status: 'ok', output: '(fork) ran del df', forkKernelId: expect.stringMatching(/^fork\./) },
    });
    expect(world.runs).toHaveLength(0);
    await handle.signal(AGENT_SIGNALS.review, { decision: 'accept' });
    await until('the accepted cell ran live', () => world.runs.length === 1);
    expect(world.runs[0]!.code).toBe('del df');

    await until('the second dry run', () => world.dryRuns.length === 2);
    await until(
      'awaiting review again',
      () => world.progress.filter((p) => p.status === 'awaiting_review').length >= 2,
    );
    await handle.signal(AGENT_SIGNALS.review, { decision: 'reject' });
    const result = (await handle.result()) as AgentRunResult;
    expect(result.changes.map((c) => c.status)).toEqual(['applied', 'rejected']);
    expect(world.runs).toHaveLength(1); // the rejected one ran only in its fork
    expect(world.dryRuns.map((d) => d.code)).toEqual(['del df', 'df = None']);
    expect(world.discardedForks).toEqual(world.dryRuns.map((d) => d.label));
    expect(toolMessages(world.llmRequests[2]!).at(-1)!.content).toMatch(
      /rejected[\s\S]*in a fork of the kernel it ran: ok[\s\S]*\(fork\) ran df = None/,
    );
    expect(world.steps.map((s) => s.step.dryRun)).toEqual([true, true, false]);
  });

  it('review: a change still pending when the model finishes waits for the person; stop rejects it', async () => {
    const { world, handle } = await start(
      (req) =>
        req.messages.some((m) => m.role === 'assistant')
          ? callTools([{ name: 'finish', args: { summary: 'proposed a chart' } }])
          : callTools([{ name: 'insert_cell', args: { source: 'plot()', run: false } }]),
      undefined,
      { mode: 'review' },
    );
    await until(
      'finished talking',
      () => world.llmRequests.length === 2 && world.progress.at(-1)?.status === 'awaiting_review',
    );
    expect(world.cells).toHaveLength(1);
    await handle.signal(AGENT_SIGNALS.stop);
    const result = (await handle.result()) as AgentRunResult;
    expect(result.reason).toBe('finished');
    expect(world.cells).toHaveLength(0);
    expect(result.changes.map((c) => c.status)).toEqual(['rejected']);
  });

  it('an LLM that refuses the key ends the run with llm_error after one attempt', async () => {
    let calls = 0;
    const { handle } = await start(() => {
      calls++;
      throw ApplicationFailure.nonRetryable('the provider refused the API key (401)', 'LlmError.auth');
    });
    const result = (await handle.result()) as AgentRunResult;
    expect(result).toMatchObject({ status: 'failed', reason: 'llm_error' });
    expect(result.summary).toContain('refused the API key');
    expect(calls).toBe(1);
  });

  it('a tool call with bad arguments is answered with an error the model can read, and the run goes on', async () => {
    const { world, handle } = await start((req) =>
      req.messages.some((m) => m.role === 'assistant')
        ? callTools([{ name: 'finish', args: { summary: 'ok' } }])
        : callTools([
            { name: 'insert_cell', args: { code: 'oops' } },
            { name: 'no_such_tool', args: {} },
          ]),
    );
    const result = (await handle.result()) as AgentRunResult;
    expect(result.reason).toBe('finished');
    expect(toolMessages(world.llmRequests[1]!).map((m) => m.content)).toEqual([
      'error: insert_cell needs a non-empty "source" string',
      expect.stringMatching(/^error: there is no tool "no_such_tool"/),
    ]);
  });
});
