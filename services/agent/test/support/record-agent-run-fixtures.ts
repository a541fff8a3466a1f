/**
 * Records the histories the replay test (test/agent-run.replay.spec.ts)
 * replays: short agent runs on the real services (doc-sync, a gVisor host
 * worker, the gateway, the agent service on the platform's Kafka, PostgreSQL
 * and Temporal) driven by the scripted OpenAI-compatible LLM server; each
 * run's history is fetched from Temporal (its CLI's JSON) and written to
 * test/fixtures/<name>.json. Re-record after a deliberate, replay-safe change
 * of the workflow (a `patched()` branch keeps old histories replaying; add a
 * run for the new branch instead of re-recording the old ones):
 *
 *   eval "$(npm run -s quire -- env)"
 *   SWC_NODE_PROJECT=tsconfig.base.json node -r @swc-node/register services/agent/test/support/record-agent-run-fixtures.ts [name…]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  AGENT_CALLER_HEADERS,
  AGENT_INTERNAL_ROUTES,
  uuidv7,
  type AgentRunDto,
  type AuthResponse,
  type NotebookSummary,
} from '@quire/contracts';
import { platformVar, stopServiceProcess, type ServiceProcess } from '@quire/service-kit';
import { Client, Connection } from '@temporalio/client';
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
} from './agent-platform';
import { openAiScript, ScriptedLlmServer } from './scripted-llm-server';

export const AGENT_FIXTURES_DIR = resolve(__dirname, '..', 'fixtures');

const call = (id: string, name: string, args: Record<string, unknown>) => ({
  id,
  name,
  argumentsJson: JSON.stringify(args),
});
const usage = { prompt: 120, completion: 12 };

interface Ctx {
  agent: ServiceProcess;
  gateway: ServiceProcess;
  alice: AuthResponse;
  llm: ScriptedLlmServer;
}

const caller = (c: Ctx, nb: NotebookSummary) => ({
  authorization: `Bearer ${platformVar('QUIRE_INTERNAL_TOKEN')}`,
  [AGENT_CALLER_HEADERS.userId]: c.alice.user.id,
  [AGENT_CALLER_HEADERS.userName]: encodeURIComponent(c.alice.user.name),
  [AGENT_CALLER_HEADERS.orgId]: c.alice.org.id,
  [AGENT_CALLER_HEADERS.role]: 'owner',
  [AGENT_CALLER_HEADERS.kernelId]: nb.kernelId,
  [AGENT_CALLER_HEADERS.notebookId]: nb.id,
});

async function startRun(c: Ctx, nb: NotebookSummary, body: Record<string, unknown>): Promise<AgentRunDto> {
  const r = await api<AgentRunDto>(c.agent.url, 'POST', AGENT_INTERNAL_ROUTES.runs, {
    headers: caller(c, nb),
    body: { notebookId: nb.id, ...body },
  });
  if (r.status !== 201) throw new Error(`start run: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const getRun = async (c: Ctx, nb: NotebookSummary, runId: string) =>
  (await api<AgentRunDto>(c.agent.url, 'GET', AGENT_INTERNAL_ROUTES.run(runId), { headers: caller(c, nb) }))
    .body;

const finished = (c: Ctx, nb: NotebookSummary, runId: string) =>
  until(
    `run ${runId} to finish`,
    async () => ((await getRun(c, nb, runId)).finishedAt ? true : undefined),
    180_000,
  );

async function action(c: Ctx, nb: NotebookSummary, runId: string, a: 'stop' | 'review', body: unknown = {}) {
  const r = await api(c.agent.url, 'POST', AGENT_INTERNAL_ROUTES.action(runId, a), {
    headers: caller(c, nb),
    body,
  });
  if (r.status !== 200) throw new Error(`${a}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** The runs recorded, by fixture name; each returns the run id and the status it must have ended with. */
const RUNS: Record<string, (c: Ctx) => Promise<{ runId: string; expect: string }>> = {
  // Auto mode: a cell inserted and run, the notebook read, the variables inspected, finish.
  'auto-insert-inspect-finish': async (c) => {
    const nb = await createNotebook(c.gateway.url, c.alice.token, 'replay: auto');
    c.llm.reset(
      openAiScript.toolCalls([call('a1', 'insert_cell', { source: 'x = 41 + 1\nprint(x)' })], usage),
      openAiScript.toolCalls([call('a2', 'read_notebook', {})], usage),
      openAiScript.toolCalls([call('a3', 'inspect_variables', { names: ['x'] })], usage),
      openAiScript.toolCalls([call('a4', 'finish', { summary: 'x is 42' })], usage),
    );
    const run = await startRun(c, nb, { goal: 'compute x', mode: 'auto' });
    await finished(c, nb, run.runId);
    return { runId: run.runId, expect: 'succeeded' };
  },
  // Review mode: the first proposed cell is accepted (then runs), the second rejected; finish.
  'review-accept-reject': async (c) => {
    const nb = await createNotebook(c.gateway.url, c.alice.token, 'replay: review');
    c.llm.reset(
      openAiScript.toolCalls([call('r1', 'insert_cell', { source: "print('accepted')" })], usage),
      openAiScript.toolCalls([call('r2', 'insert_cell', { source: "print('rejected')" })], usage),
      openAiScript.toolCalls([call('r3', 'finish', { summary: 'one of two' })], usage),
    );
    const run = await startRun(c, nb, { goal: 'propose two cells', mode: 'review' });
    for (const decision of ['accept', 'reject'] as const) {
      const pending = await until(
        `a pending change to ${decision}`,
        async () => (await getRun(c, nb, run.runId)).changes.find((ch) => ch.status === 'pending'),
        60_000,
      );
      await action(c, nb, run.runId, 'review', { decision, changeIds: [pending.changeId] });
    }
    await finished(c, nb, run.runId);
    return { runId: run.runId, expect: 'succeeded' };
  },
  // Stop while a cell runs: the cell is interrupted, no LLM call follows.
  'stopped-while-cell-runs': async (c) => {
    const nb = await createNotebook(c.gateway.url, c.alice.token, 'replay: stop');
    const bob = await Collaborator.open(c.gateway.url, c.alice.token, nb.id);
    try {
      c.llm.reset(
        openAiScript.toolCalls(
          [
            call('s1', 'insert_cell', {
              source: "import time\nprint('working', flush=True)\ntime.sleep(60)",
            }),
          ],
          usage,
        ),
        openAiScript.toolCalls([call('s2', 'finish', { summary: 'never' })], usage),
      );
      const run = await startRun(c, nb, { goal: 'sleep', mode: 'auto' });
      await until(
        'the cell runs',
        () => bob.cells.some((x) => bob.stdout(String(x.get('id'))).includes('working')),
        120_000,
      );
      await action(c, nb, run.runId, 'stop');
      await finished(c, nb, run.runId);
      return { runId: run.runId, expect: 'stopped' };
    } finally {
      bob.close();
    }
  },
  // A review-mode dry run: the proposed cell runs in a fork of the kernel first, then live after accept.
  'dry-run-review-accept': async (c) => {
    const nb = await createNotebook(c.gateway.url, c.alice.token, 'replay: dry run');
    c.llm.reset(
      openAiScript.toolCalls([call('d1', 'insert_cell', { source: "y = 7\nprint('y is', y)" })], usage),
      openAiScript.toolCalls([call('d2', 'finish', { summary: 'y is 7' })], usage),
    );
    const run = await startRun(c, nb, { goal: 'set y', mode: 'review', dryRun: true });
    const pending = await until(
      'a pending change with its dry run',
      async () => (await getRun(c, nb, run.runId)).changes.find((ch) => ch.status === 'pending' && ch.dryRun),
      180_000,
    );
    await action(c, nb, run.runId, 'review', { decision: 'accept', changeIds: [pending.changeId] });
    await finished(c, nb, run.runId);
    return { runId: run.runId, expect: 'succeeded' };
  },
  // The step budget: one step allowed, the model wants more.
  'max-steps': async (c) => {
    const nb = await createNotebook(c.gateway.url, c.alice.token, 'replay: budget');
    c.llm.reset(
      openAiScript.toolCalls([call('m1', 'insert_cell', { source: '1 + 1' })], usage),
      openAiScript.toolCalls([call('m2', 'finish', { summary: 'never' })], usage),
    );
    const run = await startRun(c, nb, { goal: 'one step only', mode: 'auto', budget: { maxSteps: 1 } });
    await finished(c, nb, run.runId);
    return { runId: run.runId, expect: 'budget_exhausted' };
  },
};

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const names = only.length ? only : Object.keys(RUNS);
  for (const n of names)
    if (!RUNS[n]) throw new Error(`no recorded run ${n} (known: ${Object.keys(RUNS).join(', ')})`);
  const volumes = mkdtempSync(join(tmpdir(), 'quire-agent-record-volumes-'));
  const tag = uuidv7().replace(/-/g, '').slice(-12);
  const llm = await ScriptedLlmServer.start();
  let docSync: ServiceProcess | undefined;
  let host: Awaited<ReturnType<typeof startHostWorker>> | undefined;
  let gateway: ServiceProcess | undefined;
  let agent: ServiceProcess | undefined;
  const connection = await Connection.connect({ address: platformVar('QUIRE_TEMPORAL_ADDRESS') });
  try {
    const bundle = workflowBundleFile();
    docSync = await startDocSync();
    host = await startHostWorker(volumes);
    gateway = await startGateway(docSync.url, host.url);
    agent = await startAgent({
      QUIRE_GATEWAY_URL: gateway.url,
      QUIRE_DOC_SYNC_URL: docSync.url,
      QUIRE_AGENT_SCHEMA: `agent_rec_${tag}`,
      QUIRE_AGENT_TASK_QUEUE: `quire-agent-record-${tag}`,
      QUIRE_AGENT_LLM_KIND: 'openai',
      QUIRE_AGENT_LLM_BASE_URL: `${llm.origin}/v1`,
      QUIRE_AGENT_LLM_MODEL: 'scripted-model',
      QUIRE_AGENT_LLM_API_KEY: 'sk-record',
      QUIRE_AGENT_LLM_PRICE_PROMPT: '2.5',
      QUIRE_AGENT_LLM_PRICE_COMPLETION: '10',
      QUIRE_AGENT_LLM_STREAM: 'false',
      QUIRE_AGENT_WORKFLOW_BUNDLE: await bundle,
      QUIRE_INSTANCE_ID: `agent-record-${tag}`,
    });
    const ctx: Ctx = { agent, gateway, alice: await signup(gateway.url, 'alice'), llm };
    const client = new Client({ connection, namespace: process.env.QUIRE_TEMPORAL_NAMESPACE ?? 'default' });
    for (const name of names) {
      const { runId, expect } = await RUNS[name]!(ctx);
      const handle = client.workflow.getHandle(`agent-run:${runId}`);
      const result = (await handle.result()) as { status: string; reason: string };
      if (result.status !== expect)
        throw new Error(`${name}: the run ended ${result.status}/${result.reason}, expected ${expect}`);
      const file = join(AGENT_FIXTURES_DIR, `${name}.json`);
      // The Temporal CLI's JSON (what `quire replay --file` reads too); the SDK's historyToJSON
      // cannot serialise the payload metadata the client returns.
      const shown = spawnSync(
        platformVar('QUIRE_TEMPORAL_CLI'),
        [
          'workflow',
          'show',
          '--address',
          platformVar('QUIRE_TEMPORAL_ADDRESS'),
          '--namespace',
          process.env.QUIRE_TEMPORAL_NAMESPACE ?? 'default',
          '-w',
          handle.workflowId,
          '-o',
          'json',
        ],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      );
      if (shown.status !== 0) throw new Error(`temporal workflow show failed: ${shown.stderr}`);
      writeFileSync(file, shown.stdout);
      spawnSync(
        join(__dirname, '..', '..', '..', '..', 'node_modules', '.bin', 'prettier'),
        ['--write', file],
        {
          stdio: 'ignore',
        },
      );
      process.stderr.write(`recorded ${name} (${result.status}/${result.reason}) → ${file}\n`);
    }
  } finally {
    await connection.close();
    if (agent) await stopServiceProcess(agent, 'SIGTERM', 15_000);
    if (gateway) await stopServiceProcess(gateway, 'SIGTERM', 15_000);
    if (docSync) await stopServiceProcess(docSync, 'SIGTERM', 10_000);
    await stopHostWorker(host);
    await llm.stop();
  }
}

if (require.main === module)
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`recording failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
