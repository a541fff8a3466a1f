import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AGENT_CALLER_HEADERS,
  AGENT_INTERNAL_ROUTES,
  NOTEBOOK_DOC,
  TOPICS,
  uuidv7,
  type AgentRunDto,
  type AuthResponse,
  type EventEnvelope,
  type HostKernelSummary,
  type NotebookSummary,
} from '@quire/contracts';
import { createKafka, EventConsumer } from '@quire/contracts/kafka';
import { platformVar, stopServiceProcess, type ServiceProcess } from '@quire/service-kit';
import * as Y from 'yjs';
import { KernelChannelClient } from '../src/kernel/kernel-channel-client';
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
import { openAiScript, ScriptedLlmServer } from './support/scripted-llm-server';

jest.setTimeout(420_000);

/**
 * Dry runs on the real platform: in review mode with `dryRun: true`, each
 * proposed cell runs first in a fork of the notebook's gVisor kernel (the host
 * worker's fork, reached through the gateway's kernel-fork routes with the
 * run's agent token). The person sees the fork's output with the pending
 * change; the live kernel — checked with a person's own cell runs — is
 * untouched until they accept.
 */
describe('agent dry runs in a forked kernel', () => {
  const volumes = mkdtempSync(join(tmpdir(), 'quire-agent-dry-volumes-'));
  const schema = `agent_dry_${uuidv7().replace(/-/g, '').slice(-12)}`;
  const taskQueue = `quire-agent-dry-${uuidv7()}`;
  const internalToken = platformVar('QUIRE_INTERNAL_TOKEN');
  const usage = { prompt: 500, completion: 20 };
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
  const getRun = async (nb: NotebookSummary, runId: string) =>
    (await api<AgentRunDto>(agent.url, 'GET', AGENT_INTERNAL_ROUTES.run(runId), { headers: caller(nb) }))
      .body;
  const review = (nb: NotebookSummary, runId: string, decision: 'accept' | 'reject') =>
    api<AgentRunDto>(agent.url, 'POST', AGENT_INTERNAL_ROUTES.action(runId, 'review'), {
      headers: caller(nb),
      body: { decision },
    });
  const toolContents = (i: number): string[] =>
    ((llm.requests[i]!.body as { messages: { role: string; content: string }[] }).messages ?? [])
      .filter((m) => m.role === 'tool')
      .map((m) => m.content);
  const call = (id: string, name: string, args: Record<string, unknown>) => ({
    id,
    name,
    argumentsJson: JSON.stringify(args),
  });
  const hostKernels = async () =>
    (await api<{ kernels: HostKernelSummary[] }>(host.url, 'GET', '/internal/kernels')).body.kernels;

  /** A person's code cell, run by them on the notebook's live kernel (the gateway's kernel channel, user token). */
  async function personRuns(bob: Collaborator, nb: NotebookSummary, cellId: string, source: string) {
    const C = NOTEBOOK_DOC.cell;
    bob.doc.transact(() => {
      const existing = bob.cell(cellId);
      if (existing) {
        const text = existing.get(C.source) as Y.Text;
        text.delete(0, text.length);
        text.insert(0, source);
        return;
      }
      const c = new Y.Map<unknown>();
      c.set(C.id, cellId);
      c.set(C.type, 'code');
      c.set(C.source, new Y.Text(source));
      c.set(C.metadata, new Y.Map());
      c.set(C.outputs, new Y.Array());
      c.set(C.executionCount, null);
      bob.doc.getArray<Y.Map<unknown>>(NOTEBOOK_DOC.cells).push([c]);
    });
    await new Promise((r) => setTimeout(r, 300)); // the edit reaches doc-sync before the run reads it
    const channel = await KernelChannelClient.open(
      `${gateway.url.replace(/^http/, 'ws')}/api/notebooks/${nb.id}/kernel-channel`,
      alice.token,
    );
    try {
      const executionId = await channel.run(cellId);
      await channel.whenFinished(executionId);
      await until(`${cellId} finished in the document`, () => {
        const e = bob.execution(cellId);
        return e?.executionId === executionId && e.status !== 'queued' && e.status !== 'running';
      });
    } finally {
      channel.close();
    }
    const outputs = (
      bob.cell(cellId)?.get(C.outputs) as Y.Array<{ output_type: string; ename?: string }>
    ).toArray();
    return { stdout: bob.stdout(cellId), error: outputs.find((o) => o.output_type === 'error')?.ename };
  }

  beforeAll(async () => {
    llm = await ScriptedLlmServer.start();
    const bundle = workflowBundleFile();
    docSync = await startDocSync();
    host = await startHostWorker(volumes);
    gateway = await startGateway(docSync.url, host.url);
    agent = await startAgent({
      QUIRE_GATEWAY_URL: gateway.url,
      QUIRE_DOC_SYNC_URL: docSync.url,
      QUIRE_AGENT_SCHEMA: schema,
      QUIRE_AGENT_TASK_QUEUE: taskQueue,
      QUIRE_AGENT_LLM_KIND: 'openai',
      QUIRE_AGENT_LLM_BASE_URL: `${llm.origin}/v1`,
      QUIRE_AGENT_LLM_MODEL: 'scripted-model',
      QUIRE_AGENT_LLM_API_KEY: 'sk-test-dry-run',
      QUIRE_AGENT_LLM_STREAM: 'false',
      QUIRE_AGENT_WORKFLOW_BUNDLE: await bundle,
      QUIRE_INSTANCE_ID: `agent-dry-it-${process.pid}`,
    });
    alice = await signup(gateway.url, 'alice');
    consumer = new EventConsumer({
      kafka: createKafka({
        brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','),
        clientId: 'agent-dry-it',
      }),
      groupId: `agent-dry-it-${uuidv7()}`,
      topics: [TOPICS.exec.name],
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

  it('refuses a dry run in auto mode (nobody would see the fork’s output before it runs live)', async () => {
    const nb = await createNotebook(gateway.url, alice.token, 'Dry auto');
    const r = await api<{ code: string }>(agent.url, 'POST', AGENT_INTERNAL_ROUTES.runs, {
      headers: caller(nb),
      body: { notebookId: nb.id, goal: 'x', mode: 'auto', dryRun: true },
    });
    expect(r).toMatchObject({ status: 400, body: { code: 'agent.dry_run_needs_review' } });
  });

  it('`del df` runs in a fork: the pending change shows its output, the live df is intact; reject discards the fork, accept runs it live', async () => {
    const nb = await createNotebook(gateway.url, alice.token, 'Dry run');
    const bob = await Collaborator.open(gateway.url, alice.token, nb.id);
    expect(
      await personRuns(
        bob,
        nb,
        'setup',
        "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})\nprint('ready')",
      ),
    ).toEqual({ stdout: 'ready\n', error: undefined });
    const check = 'print(type(df).__name__, len(df))';

    // Run 1: the model proposes `del df`; the person sees the fork's output and rejects it.
    llm.reset(
      openAiScript.toolCalls([call('d1', 'insert_cell', { source: "del df\nprint('df deleted')" })], usage),
      openAiScript.toolCalls([call('d2', 'finish', { summary: 'left df alone' })], usage),
    );
    const first = (
      await api<AgentRunDto>(agent.url, 'POST', AGENT_INTERNAL_ROUTES.runs, {
        headers: caller(nb),
        body: { notebookId: nb.id, goal: 'drop df', mode: 'review', dryRun: true },
      })
    ).body;
    expect(first).toMatchObject({ dryRun: true, mode: 'review' });
    const pending1 = await until(
      'the dry run of the first proposal',
      async () => {
        const r = await getRun(nb, first.runId);
        return r.status === 'awaiting_review' && r.changes[0]?.dryRun ? r : undefined;
      },
      120_000,
    );
    const change1 = pending1.changes[0]!;
    expect(change1).toMatchObject({
      kind: 'insert_cell',
      status: 'pending',
      source: "del df\nprint('df deleted')",
    });
    expect(change1.dryRun).toMatchObject({ status: 'ok' });
    expect(change1.dryRun!.output).toContain('df deleted');
    expect(change1.dryRun!.forkKernelId).toMatch(new RegExp(`^fork\\.${first.runId}\\.`));
    // The fork runs beside the live kernel while the person decides; the proposed cell did not run live.
    expect((await hostKernels()).map((k) => k.kernelId)).toEqual(
      expect.arrayContaining([nb.kernelId, change1.dryRun!.forkKernelId]),
    );
    expect(bob.execution(change1.cellId)).toBeUndefined();
    expect(await personRuns(bob, nb, 'check', check)).toEqual({ stdout: 'DataFrame 3\n', error: undefined });

    expect((await review(nb, first.runId, 'reject')).status).toBe(200);
    await until('run 1 to finish', async () => (await getRun(nb, first.runId)).finishedAt ?? undefined);
    // The model is told what the fork showed; the fork is gone; df is still there.
    expect(toolContents(1).join('\n')).toMatch(
      /rejected[\s\S]*in a fork of the kernel it ran: ok[\s\S]*df deleted/,
    );
    await until('the fork to be discarded', async () =>
      (await hostKernels()).every((k) => !k.kernelId.startsWith('fork.')),
    );
    expect(await personRuns(bob, nb, 'check', check)).toEqual({ stdout: 'DataFrame 3\n', error: undefined });

    // Run 2: the same proposal, accepted after its dry run: now it runs live and df is gone.
    llm.reset(
      openAiScript.toolCalls([call('e1', 'insert_cell', { source: "del df\nprint('df deleted')" })], usage),
      openAiScript.toolCalls([call('e2', 'finish', { summary: 'df dropped' })], usage),
    );
    const second = (
      await api<AgentRunDto>(agent.url, 'POST', AGENT_INTERNAL_ROUTES.runs, {
        headers: caller(nb),
        body: { notebookId: nb.id, goal: 'drop df', mode: 'review', dryRun: true },
      })
    ).body;
    const pending2 = await until(
      'the dry run of the second proposal',
      async () => {
        const r = await getRun(nb, second.runId);
        return r.status === 'awaiting_review' && r.changes[0]?.dryRun ? r : undefined;
      },
      120_000,
    );
    const change2 = pending2.changes[0]!;
    expect(change2.dryRun!.output).toContain('df deleted');
    expect(await personRuns(bob, nb, 'check', check)).toEqual({ stdout: 'DataFrame 3\n', error: undefined });
    const liveRunsBefore = events.filter(
      (e) =>
        e.type === 'quire.exec.ExecuteRequested' && (e.data as { cellId?: string }).cellId === change2.cellId,
    ).length;
    expect(liveRunsBefore).toBe(0);

    expect((await review(nb, second.runId, 'accept')).status).toBe(200);
    const done = await until('run 2 to finish', async () => {
      const r = await getRun(nb, second.runId);
      return r.finishedAt ? r : undefined;
    });
    expect(done).toMatchObject({ status: 'succeeded', changes: [{ status: 'applied' }] });
    expect(bob.execution(change2.cellId)).toMatchObject({ status: 'ok', userName: 'Agent (for alice)' });
    expect(bob.stdout(change2.cellId)).toBe('df deleted\n');
    expect(toolContents(1).join('\n')).toMatch(/ran: ok[\s\S]*df deleted/);
    expect(await personRuns(bob, nb, 'check', check)).toMatchObject({ error: 'NameError' });
    expect((await hostKernels()).some((k) => k.kernelId.startsWith('fork.'))).toBe(false);
    expect(done.steps[0]).toMatchObject({ dryRun: true });
    // Live, it ran once (the fork's run is not a live execution and is on no queue).
    const liveRuns = () =>
      events.filter(
        (e) =>
          e.type === 'quire.exec.ExecuteRequested' &&
          (e.data as { cellId?: string }).cellId === change2.cellId,
      );
    await until('the live run on exec.v1', () => liveRuns().length > 0, 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(liveRuns()).toHaveLength(1);
    bob.close();
  });
});
