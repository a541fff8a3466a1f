import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AGENT_CALLER_HEADERS,
  AGENT_CELL_METADATA_KEY,
  AGENT_INTERNAL_ROUTES,
  TOPICS,
  uuidv7,
  type AgentRunDto,
  type AuthResponse,
  type EventEnvelope,
  type NotebookSummary,
} from '@quire/contracts';
import { createKafka, EventConsumer } from '@quire/contracts/kafka';
import { crashAndRestart, platformVar, stopServiceProcess, type ServiceProcess } from '@quire/service-kit';
import {
  api,
  Collaborator,
  createNotebook,
  signup,
  startAgent,
  startDocSync,
  startGateway,
  startHostWorker,
  stopHostWorker,
  until,
  workflowBundleFile,
} from './support/agent-platform';
import { openAiScript, ScriptedLlmServer, type ScriptStep } from './support/scripted-llm-server';

jest.setTimeout(420_000);

/**
 * Agent runs end to end on real services: a scripted OpenAI-compatible LLM
 * server (real HTTP, real tool_calls JSON) drives the agent service, whose
 * Temporal workflow writes cells into the notebook through doc-sync and runs
 * them in a gVisor kernel through the gateway's kernel channel.
 */
/** Longer than any cell of these tests runs (the kill -9 one sleeps 6 s). */
const STEP_CAP_S = 15;

describe('agent runs on the real platform', () => {
  const volumes = mkdtempSync(join(tmpdir(), 'quire-agent-volumes-'));
  const schema = `agent_it_${uuidv7().replace(/-/g, '').slice(-12)}`;
  const taskQueue = `quire-agent-it-${uuidv7()}`;
  const internalToken = platformVar('QUIRE_INTERNAL_TOKEN');
  let docSync: ServiceProcess;
  let host: Awaited<ReturnType<typeof startHostWorker>>;
  let gateway: ServiceProcess;
  let agent: ServiceProcess;
  let llm: ScriptedLlmServer;
  let alice: AuthResponse;
  let consumer: EventConsumer;
  const events: EventEnvelope[] = [];

  const caller = (nb: NotebookSummary) => ({
    authorization: `Bearer ${internalToken}`,
    [AGENT_CALLER_HEADERS.userId]: alice.user.id,
    [AGENT_CALLER_HEADERS.userName]: encodeURIComponent(alice.user.name),
    [AGENT_CALLER_HEADERS.orgId]: alice.org.id,
    [AGENT_CALLER_HEADERS.role]: 'owner',
    [AGENT_CALLER_HEADERS.kernelId]: nb.kernelId,
    [AGENT_CALLER_HEADERS.notebookId]: nb.id,
  });
  const startRun = async (nb: NotebookSummary, body: Record<string, unknown>) => {
    const r = await api<AgentRunDto>(agent.url, 'POST', AGENT_INTERNAL_ROUTES.runs, {
      headers: caller(nb),
      body: { notebookId: nb.id, ...body },
    });
    expect(r.status).toBe(201);
    return r.body;
  };
  const getRun = async (nb: NotebookSummary, runId: string) =>
    (await api<AgentRunDto>(agent.url, 'GET', AGENT_INTERNAL_ROUTES.run(runId), { headers: caller(nb) }))
      .body;
  const finished = (nb: NotebookSummary, runId: string, ms = 180_000) =>
    until(
      `run ${runId} to finish`,
      async () => {
        const r = await getRun(nb, runId);
        return r.finishedAt ? r : undefined;
      },
      ms,
    );
  const ofRun = (runId: string, type: string) => events.filter((e) => e.subject === runId && e.type === type);
  const execRequested = (kernelId: string) =>
    events.filter((e) => e.type === 'quire.exec.ExecuteRequested' && e.subject === kernelId);
  /** The tool messages of a recorded request body. */
  const toolContents = (i: number): string[] =>
    ((llm.requests[i]!.body as { messages: { role: string; content: string }[] }).messages ?? [])
      .filter((m) => m.role === 'tool')
      .map((m) => m.content);
  const call = (id: string, name: string, args: Record<string, unknown>) => ({
    id,
    name,
    argumentsJson: JSON.stringify(args),
  });

  beforeAll(async () => {
    llm = await ScriptedLlmServer.start();
    const bundle = workflowBundleFile();
    docSync = await startDocSync();
    // The agent tier's per-cell cap, made short (60 s in production): a runaway cell is stopped at it.
    host = await startHostWorker(volumes, { QUIRE_CELL_CAP_AGENT_S: String(STEP_CAP_S) });
    gateway = await startGateway(docSync.url, host.url);
    agent = await startAgent({
      QUIRE_GATEWAY_URL: gateway.url,
      QUIRE_DOC_SYNC_URL: docSync.url,
      QUIRE_AGENT_SCHEMA: schema,
      QUIRE_AGENT_TASK_QUEUE: taskQueue,
      QUIRE_AGENT_LLM_KIND: 'openai',
      QUIRE_AGENT_LLM_BASE_URL: `${llm.origin}/v1`,
      QUIRE_AGENT_LLM_MODEL: 'scripted-model',
      QUIRE_AGENT_LLM_API_KEY: 'sk-test-never-in-the-kernel',
      QUIRE_AGENT_LLM_PRICE_PROMPT: '2.5',
      QUIRE_AGENT_LLM_PRICE_COMPLETION: '10',
      QUIRE_AGENT_LLM_STREAM: 'false',
      QUIRE_AGENT_WORKFLOW_BUNDLE: await bundle,
      QUIRE_INSTANCE_ID: `agent-it-${process.pid}`,
    });
    alice = await signup(gateway.url, 'alice');
    consumer = new EventConsumer({
      kafka: createKafka({ brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','), clientId: 'agent-it' }),
      groupId: `agent-it-${uuidv7()}`,
      topics: [TOPICS.agent.name, TOPICS.exec.name],
      fromBeginning: true,
      handler: async (e) => {
        if (e.tenant === alice.org.id) events.push(e);
      },
    });
    await consumer.start();
  });

  afterAll(async () => {
    await consumer?.stop();
    await stopServiceProcess(agent, 'SIGTERM', 15_000);
    await stopServiceProcess(gateway, 'SIGTERM', 15_000);
    await stopServiceProcess(docSync, 'SIGTERM', 10_000);
    await stopHostWorker(host);
    await llm?.stop();
  });

  it('a multi-step analysis of a CSV in the user’s volume: cells in the doc, run in gVisor, truncated outputs to the model, tokens and cost', async () => {
    const nb = await createNotebook(gateway.url, alice.token, 'Sales analysis');
    const home = join(volumes, alice.org.id, alice.user.id);
    mkdirSync(home, { recursive: true });
    const rows = [
      'date,region,amount',
      ...Array.from(
        { length: 150 },
        (_, i) =>
          `2024-01-${String((i % 28) + 1).padStart(2, '0')},r${i % 3},${i === 77 ? 99999 : 100 + (i % 10)}`,
      ),
    ];
    writeFileSync(join(home, 'sales.csv'), rows.join('\n') + '\n');

    const bob = await Collaborator.open(gateway.url, alice.token, nb.id);
    bob.addMarkdown('intro', '# Sales');
    await new Promise((r) => setTimeout(r, 300));
    const preRun = bob.doc.toJSON();
    const preRunCells = bob.cells.length;

    const usage = [
      { prompt: 1000, completion: 40 },
      { prompt: 1400, completion: 20 },
      { prompt: 2000, completion: 60 },
      { prompt: 2600, completion: 30 },
      { prompt: 3000, completion: 50 },
    ];
    llm.reset(
      openAiScript.toolCalls(
        [
          call('c1', 'insert_cell', {
            source: "import pandas as pd\ndf = pd.read_csv('/home/jovyan/sales.csv')\nprint(df.shape)",
          }),
        ],
        usage[0]!,
      ),
      openAiScript.toolCalls([call('c2', 'inspect_variables', {})], usage[1]!),
      openAiScript.toolCalls(
        [call('c3', 'insert_cell', { source: "for i in range(400):\n    print('row', i)" })],
        usage[2]!,
      ),
      openAiScript.toolCalls(
        [
          call('c4', 'insert_cell', {
            source:
              "import os\nprint('key in kernel:', any('sk-test' in v for v in os.environ.values()))\ndf.loc[df['amount'].idxmax()]",
          }),
        ],
        usage[3]!,
      ),
      openAiScript.toolCalls(
        [call('c5', 'finish', { summary: 'One anomaly: amount 99999 on row 77.' })],
        usage[4]!,
      ),
    );

    const started = await startRun(nb, { goal: 'load sales.csv and find the anomalies', mode: 'auto' });
    expect(started).toMatchObject({
      status: 'running',
      mode: 'auto',
      userId: alice.user.id,
      provider: { kind: 'openai', model: 'scripted-model' },
    });
    const run = await finished(nb, started.runId);
    expect(run).toMatchObject({
      status: 'succeeded',
      finishReason: 'finished',
      summary: 'One anomaly: amount 99999 on row 77.',
    });
    expect(llm.requests).toHaveLength(5);
    expect(llm.requests[0]!.headers.authorization).toBe('Bearer sk-test-never-in-the-kernel');

    // The cells are in the document, seen by a second y-websocket client, with their provenance.
    const agentCells = bob.cells.filter((c) => bob.metadata(String(c.get('id')))[AGENT_CELL_METADATA_KEY]);
    expect(agentCells).toHaveLength(3);
    for (const c of agentCells)
      expect(bob.metadata(String(c.get('id')))[AGENT_CELL_METADATA_KEY]).toMatchObject({
        runId: started.runId,
        onBehalfOf: { userId: alice.user.id, name: 'alice' },
        state: 'applied',
      });
    const [load, loop, check] = agentCells.map((c) => String(c.get('id')));
    expect(bob.source(load!)).toContain("pd.read_csv('/home/jovyan/sales.csv')");
    expect(bob.execution(load!)).toMatchObject({ status: 'ok', userName: 'Agent (for alice)' });
    // The inspection's scratch cell is gone again.
    expect(bob.cells.some((c) => String(c.get('id')).startsWith('agent-inspect-'))).toBe(false);

    // Each cell's output reached the next request, truncated; the full output stays in the notebook.
    expect(toolContents(1).at(-1)).toContain('(150, 3)');
    const inspected = toolContents(2).at(-1)!;
    expect(inspected).toMatch(/df: pandas\.core\.frame\.DataFrame shape=\(150, 3\)/);
    expect(inspected).toContain('dtypes: date=object, region=object, amount=int64');
    const long = toolContents(3).at(-1)!;
    expect(long).toContain('row 0\n');
    expect(long).toContain('row 399');
    expect(long).toMatch(/omitted \d+ lines/);
    expect(long).not.toContain('row 200\n');
    expect(long.length).toBeLessThan(2_200);
    expect(bob.stdout(loop!)).toContain('row 200\n');
    const last = toolContents(4).at(-1)!;
    expect(last).toContain('key in kernel: False');
    expect(last).toContain('99999');
    expect(bob.stdout(check!)).toContain('key in kernel: False');

    // agent.v1: started, five steps, finished with tokens and cost.
    const prompt = usage.reduce((s, u) => s + u.prompt, 0);
    const completion = usage.reduce((s, u) => s + u.completion, 0);
    const cost = ((prompt * 2.5 + completion * 10) / 1e6).toFixed(6);
    await until(
      'AgentRunFinished',
      () => ofRun(started.runId, 'quire.agent.AgentRunFinished').length === 1,
      30_000,
    );
    expect(ofRun(started.runId, 'quire.agent.AgentRunStarted')).toHaveLength(1);
    expect(
      ofRun(started.runId, 'quire.agent.AgentStep').map((e) => (e.data as { step: number }).step),
    ).toEqual([1, 2, 3, 4, 5]);
    expect(ofRun(started.runId, 'quire.agent.AgentRunFinished')[0]!.data).toMatchObject({
      status: 'succeeded',
      reason: 'finished',
      steps: 5,
      tokens: { prompt, completion },
      cost: { amount: cost, currency: 'USD' },
    });
    expect(run.usage).toMatchObject({ steps: 5, promptTokens: prompt, completionTokens: completion, cost });
    // Four executions (three cells and the inspection), all origin agent.
    await until('exec events', () => execRequested(nb.kernelId).length >= 4, 30_000);
    expect(execRequested(nb.kernelId).map((e) => (e.data as { origin: string }).origin)).toEqual([
      'agent',
      'agent',
      'agent',
      'agent',
    ]);

    // Undo restores the document exactly as it was before the run.
    const undone = await api<AgentRunDto>(
      agent.url,
      'POST',
      AGENT_INTERNAL_ROUTES.action(started.runId, 'undo'),
      {
        headers: caller(nb),
        body: {},
      },
    );
    expect(undone.status).toBe(200);
    expect(undone.body.undone).toBe(true);
    await until('the undo reaches the collaborator', () => bob.cells.length === preRunCells, 15_000);
    expect(bob.doc.toJSON()).toEqual(preRun);
    bob.close();
  });

  it('stop while a cell runs: the cell is interrupted and the model is asked nothing more', async () => {
    const nb = await createNotebook(gateway.url, alice.token, 'Stop');
    const bob = await Collaborator.open(gateway.url, alice.token, nb.id);
    const script: ScriptStep[] = [
      openAiScript.toolCalls(
        [
          call('s1', 'insert_cell', {
            source: "import time\nprint('working', flush=True)\nfor i in range(1200):\n    time.sleep(0.05)",
          }),
        ],
        { prompt: 100, completion: 10 },
      ),
      openAiScript.toolCalls([call('s2', 'finish', { summary: 'never' })], { prompt: 1, completion: 1 }),
    ];
    llm.reset(...script);
    const started = await startRun(nb, { goal: 'loop forever', mode: 'auto' });
    const cellId = await until(
      'the cell runs',
      () => {
        const c = bob.cells.find((x) => bob.stdout(String(x.get('id'))).includes('working'));
        return c ? String(c.get('id')) : undefined;
      },
      120_000,
    );
    const t0 = Date.now();
    const stop = await api<AgentRunDto>(
      agent.url,
      'POST',
      AGENT_INTERNAL_ROUTES.action(started.runId, 'stop'),
      {
        headers: caller(nb),
        body: {},
      },
    );
    expect(stop.status).toBe(200);
    await until('interrupted', () => bob.execution(cellId)?.status === 'interrupted', 30_000);
    console.log(`stop → cell interrupted in the document: ${Date.now() - t0} ms`);
    const run = await finished(nb, started.runId);
    expect(run).toMatchObject({ status: 'stopped', finishReason: 'stopped_by_user' });
    expect(llm.requests).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(llm.requests).toHaveLength(1);
    bob.close();
  });

  it('an LLM that proposes `while True: pass` is stopped at the step cap; the model is told and the run goes on', async () => {
    const nb = await createNotebook(gateway.url, alice.token, 'Runaway');
    const bob = await Collaborator.open(gateway.url, alice.token, nb.id);
    llm.reset(
      openAiScript.toolCalls([call('w1', 'insert_cell', { source: 'while True: pass' })], {
        prompt: 50,
        completion: 5,
      }),
      openAiScript.toolCalls([call('w2', 'finish', { summary: 'the loop was stopped' })], {
        prompt: 80,
        completion: 5,
      }),
    );
    const started = await startRun(nb, { goal: 'spin', mode: 'auto' });
    const cellId = await until(
      'the loop runs',
      () => {
        const c = bob.cells.find((x) => String(x.get('source') ?? '').includes('while True'));
        return c && bob.execution(String(c.get('id')))?.status === 'running'
          ? String(c.get('id'))
          : undefined;
      },
      120_000,
    );
    const t0 = Date.now();
    await until(
      'the cap to stop the cell',
      () => ['interrupted', 'error'].includes(String(bob.execution(cellId)?.status)),
      STEP_CAP_S * 1000 + 30_000,
    );
    const stoppedAfterMs = Date.now() - t0;
    console.log(`while True: stopped ${stoppedAfterMs} ms after it was seen running (cap ${STEP_CAP_S} s)`);
    expect(stoppedAfterMs).toBeGreaterThan((STEP_CAP_S - 3) * 1000);
    const run = await finished(nb, started.runId);
    expect(run).toMatchObject({ status: 'succeeded' });
    expect(llm.requests).toHaveLength(2);
    // The model hears what happened to its cell.
    expect(toolContents(1).at(-1)).toMatch(/KeyboardInterrupt|interrupt|limit|stopped/i);
    bob.close();
  });

  it('kill -9 of the agent service mid-run: the run goes on from its workflow and no cell runs twice', async () => {
    const nb = await createNotebook(gateway.url, alice.token, 'Crash');
    const bob = await Collaborator.open(gateway.url, alice.token, nb.id);
    llm.reset(
      openAiScript.toolCalls(
        [
          call('k1', 'insert_cell', {
            source: "import time\nprint('started', flush=True)\ntime.sleep(6)\nprint('slept')",
          }),
        ],
        { prompt: 100, completion: 10 },
      ),
      openAiScript.toolCalls([call('k2', 'finish', { summary: 'survived' })], {
        prompt: 200,
        completion: 10,
      }),
    );
    const started = await startRun(nb, { goal: 'sleep a little', mode: 'auto' });
    const cellId = await until(
      'the cell runs',
      () => {
        const c = bob.cells.find((x) => bob.stdout(String(x.get('id'))).includes('started'));
        return c ? String(c.get('id')) : undefined;
      },
      120_000,
    );
    await crashAndRestart(agent);
    const run = await finished(nb, started.runId);
    expect(run).toMatchObject({ status: 'succeeded', summary: 'survived' });
    expect(bob.stdout(cellId)).toBe('started\nslept\n');
    // The model saw the cell's output after the restart.
    expect(toolContents(1).at(-1)).toContain('slept');
    await until('exec events', () => execRequested(nb.kernelId).length >= 1, 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(execRequested(nb.kernelId)).toHaveLength(1);
    expect(ofRun(started.runId, 'quire.agent.AgentStep')).toHaveLength(2);
    bob.close();
  });
});
