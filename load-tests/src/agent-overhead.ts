/**
 * Agent overhead per step, excluding the LLM's and the cell's own time, next
 * to a person's plain execute of the same cell, in one run:
 *  - agent: one auto-mode run through the gateway's public API whose scripted
 *    OpenAI-compatible LLM answers at once, N+1 times, with a `run_cell` tool
 *    call of the notebook's `1+1` cell, then `finish`. Per step i ≥ 2:
 *    overhead = (AgentStep[i].at − AgentStep[i−1].at) − LLM time (measured at
 *    the scripted server: request headers in → response flushed) − execMs.
 *    Step 1 (kernel start, first LLM call) and the finish step are left out.
 *  - person: the same cell run by the notebook's owner over the gateway's
 *    editor kernel channel (`run` by cell id → execution_finished), round
 *    trip; half the samples before the agent run, half after.
 * Services (own processes, free ports, the platform's Kafka/PostgreSQL/Temporal):
 * doc-sync, a gVisor host worker, the gateway and the agent service.
 *
 *   eval "$(npm run -s quire -- env)"
 *   npm run -w @quire/load-tests bench:agent-overhead [-- --steps 50 --executes 50 --warmup 5]
 */
import { Connection, Client } from '@temporalio/client';
import type { AgentRunDto, AuthResponse, NotebookSessionResponse, NotebookSummary } from '@quire/contracts';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { startAgentPlatform } from './lib/agent-platform';
import { numberArgs } from './lib/args';
import { saveResults } from './lib/report';
import { ScriptedOpenAiServer, toolCallAnswer } from './lib/scripted-openai-server';
import { machine, now, requireEnv, sleep, summarize, table, withTimeout } from './lib/stats';

const CELL = '1+1';

async function json<T>(base: string, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The person's editor: the document (y-websocket) and the kernel channel, as the web app opens them. */
async function openEditor(base: string, token: string, notebookId: string) {
  const session = await json<NotebookSessionResponse>(
    base,
    'GET',
    `/api/notebooks/${notebookId}/session`,
    token,
  );
  const doc = new Y.Doc();
  const url = new URL(session.docUrl);
  const provider = new WebsocketProvider(url.origin.replace('http', 'ws'), url.pathname.slice(1), doc, {
    params: { token: session.docToken },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  await withTimeout(new Promise<void>((r) => provider.once('sync', () => r())), 15_000, 'doc sync');
  const ws = await new Promise<WebSocket>((resolve, reject) => {
    const w = new WebSocket(session.kernelChannelUrl, [`quire.bearer.${token}`], {
      perMessageDeflate: false,
    });
    w.once('open', () => resolve(w));
    w.once('error', reject);
  });
  let n = 0;
  /** One `run` of `cellId` until execution_finished; the round trip in ms. */
  const run = async (cellId: string, timeoutMs = 10_000): Promise<number> => {
    const requestId = `p${n++}`;
    const t0 = now();
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        let executionId: string | undefined;
        const onMessage = (raw: WebSocket.RawData) => {
          const m = JSON.parse(raw.toString()) as {
            type: string;
            requestId?: string;
            executionIds?: string[];
            executionId?: string;
            status?: string;
            message?: string;
          };
          if (m.type === 'ack' && m.requestId === requestId) executionId = m.executionIds?.[0];
          else if (m.type === 'error' && m.requestId === requestId) reject(new Error(m.message));
          else if (m.type === 'execution_finished' && m.executionId === executionId) {
            ws.off('message', onMessage);
            if (m.status === 'ok') resolve();
            else reject(new Error(`run: ${m.status}`));
          }
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ type: 'run', requestId, cellIds: [cellId] }));
      }),
      timeoutMs,
      'run over the kernel channel',
    );
    return now() - t0;
  };
  return {
    doc,
    run,
    close: () => {
      ws.close();
      provider.destroy();
      doc.destroy();
    },
  };
}

/** Activity durations from the run's workflow history: scheduled → started (queue) and started → completed. */
async function activityBreakdown(runId: string): Promise<[string, ReturnType<typeof summarize>][]> {
  const connection = await Connection.connect({ address: requireEnv('QUIRE_TEMPORAL_ADDRESS') });
  try {
    const client = new Client({ connection, namespace: process.env.QUIRE_TEMPORAL_NAMESPACE ?? 'default' });
    const history = await client.workflow.getHandle(`agent-run:${runId}`).fetchHistory();
    const t = (ts: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
      Number(ts?.seconds ?? 0) * 1000 + (ts?.nanos ?? 0) / 1e6;
    const scheduled = new Map<string, { type: string; at: number; startedAt?: number }>();
    const queue = new Map<string, number[]>();
    const work = new Map<string, number[]>();
    const wft: number[] = [];
    let wftScheduled = 0;
    for (const e of history.events ?? []) {
      const at = t(e.eventTime);
      const id = String(e.eventId);
      if (e.activityTaskScheduledEventAttributes)
        scheduled.set(id, { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at });
      else if (e.activityTaskStartedEventAttributes) {
        const s = scheduled.get(String(e.activityTaskStartedEventAttributes.scheduledEventId));
        if (s) s.startedAt = at;
      } else if (e.activityTaskCompletedEventAttributes) {
        const s = scheduled.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId));
        if (s?.startedAt !== undefined) {
          (queue.get(s.type) ?? queue.set(s.type, []).get(s.type)!).push(s.startedAt - s.at);
          (work.get(s.type) ?? work.set(s.type, []).get(s.type)!).push(at - s.startedAt);
        }
      } else if (e.workflowTaskScheduledEventAttributes) wftScheduled = at;
      else if (e.workflowTaskCompletedEventAttributes) wft.push(at - wftScheduled);
    }
    const rows: [string, ReturnType<typeof summarize>][] = [];
    for (const [type, xs] of work) {
      rows.push([`activity ${type}: queue (scheduled → started)`, summarize(queue.get(type)!)]);
      rows.push([`activity ${type}: run (started → completed)`, summarize(xs)]);
    }
    rows.push(['workflow task (scheduled → completed)', summarize(wft)]);
    return rows;
  } finally {
    await connection.close();
  }
}

async function main(): Promise<number> {
  requireEnv('QUIRE_KERNEL_ENV');
  requireEnv('QUIRE_TEMPORAL_ADDRESS');
  requireEnv('QUIRE_INTERNAL_TOKEN');
  const sc = numberArgs({ steps: 50, executes: 50, warmup: 5 });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const atStart = machine();
  log(`agent overhead: ${JSON.stringify(sc)} on ${atStart}`);

  let cellId = '';
  const llm = await ScriptedOpenAiServer.start((_body, i) =>
    i <= sc.steps
      ? toolCallAnswer([{ id: `call-${i}`, name: 'run_cell', arguments: { cell_id: cellId } }])
      : toolCallAnswer([{ id: `call-${i}`, name: 'finish', arguments: { summary: 'benchmark done' } }]),
  );
  const platform = await startAgentPlatform({ llmBaseUrl: llm.baseUrl });
  const base = platform.gateway.url;
  let editor: Awaited<ReturnType<typeof openEditor>> | undefined;
  try {
    const started = new Date().toISOString();
    const me = await json<AuthResponse>(base, 'POST', '/api/auth/signup', undefined, {
      email: `bench-agent-${randomUUID()}@example.test`,
      name: 'bench',
      password: 'benchmark password',
    });
    const nb = await json<NotebookSummary>(base, 'POST', '/api/notebooks', me.token, {
      title: 'agent bench',
    });
    editor = await openEditor(base, me.token, nb.id);
    const cells = editor.doc.getArray<Y.Map<unknown>>('cells');
    cellId = String(cells.get(0).get('id'));
    const src = cells.get(0).get('source') as Y.Text;
    editor.doc.transact(() => src.insert(0, CELL));
    await sleep(300);

    // Kernel start and warm-up (not measured).
    await editor.run(cellId, 180_000);
    for (let i = 0; i < sc.warmup; i++) await editor.run(cellId);
    const person: number[] = [];
    const half = Math.ceil(sc.executes / 2);
    for (let i = 0; i < half; i++) person.push(await editor.run(cellId));
    const loadBefore = machine();

    log(`agent run: ${sc.steps + 1} run_cell steps, then finish`);
    const run0 = await json<AgentRunDto>(base, 'POST', `/api/notebooks/${nb.id}/agent-runs`, me.token, {
      goal: 'benchmark: run the cell again and again',
      mode: 'auto',
      budget: { maxSteps: sc.steps + 2, maxTokens: 5_000_000, maxCost: '100', maxWallMs: 3_600_000 },
    });
    const deadline = Date.now() + 30 * 60_000;
    let run = run0;
    while (!run.finishedAt) {
      if (Date.now() > deadline) throw new Error(`agent run ${run0.runId} did not finish in 30 min`);
      await sleep(500);
      run = await json<AgentRunDto>(
        base,
        'GET',
        `/api/notebooks/${nb.id}/agent-runs/${run0.runId}`,
        me.token,
      );
    }
    if (run.status !== 'succeeded' || run.finishReason !== 'finished')
      throw new Error(`agent run ended ${run.status}/${run.finishReason}: ${run.summary}`);
    const loadDuring = machine();

    for (let i = half; i < sc.executes; i++) person.push(await editor.run(cellId));

    // Step i's interval: after step i−1's cell finished → after step i's cell finished.
    const steps = [...run.steps].sort((a, b) => a.step - b.step);
    if (steps.length !== sc.steps + 2) throw new Error(`expected ${sc.steps + 2} steps, got ${steps.length}`);
    if (llm.requests.length !== sc.steps + 2)
      throw new Error(`expected ${sc.steps + 2} LLM requests, got ${llm.requests.length}`);
    const wall: number[] = [];
    const llmMs: number[] = [];
    const execMs: number[] = [];
    const overhead: number[] = [];
    for (let i = 1; i <= sc.steps; i++) {
      const s = steps[i]!;
      if (s.tool !== 'run_cell') throw new Error(`step ${s.step} was ${s.tool}, not run_cell`);
      const w = Date.parse(s.at) - Date.parse(steps[i - 1]!.at);
      const l = llm.requests[i]!.ms;
      wall.push(w);
      llmMs.push(l);
      execMs.push(s.execMs);
      overhead.push(w - l - s.execMs);
    }
    const breakdown = await activityBreakdown(run.runId);
    const o = summarize(overhead);
    const p = summarize(person);
    const ratio = (a: number, b: number) => (a / b).toFixed(1);
    const out = [
      `agent overhead per step, ${started}`,
      `machine at start:        ${atStart}`,
      `machine before the run:  ${loadBefore}`,
      `machine after the run:   ${loadDuring}`,
      `machine at end:          ${machine()}`,
      `scenario: ${JSON.stringify(sc)}, cell \`${CELL}\`, auto mode, LLM answers at once (non-streaming)`,
      '',
      table([
        ['agent step overhead (wall − LLM − execMs)', o],
        ['person: plain execute round trip (kernel channel)', p],
        ['agent step wall (AgentStep.at − previous)', summarize(wall)],
        ['  of which LLM (at the scripted server)', summarize(llmMs)],
        ['  of which execMs (the cell, as the gateway reports it)', summarize(execMs)],
      ]),
      '',
      `agent overhead / plain execute: p50 ${ratio(o.p50, p.p50)}×, p99 ${ratio(o.p99, p.p99)}×`,
      '',
      'where the time goes (the run’s Temporal history, all steps):',
      '',
      table(breakdown, ['p50', 'p99', 'max', 'mean']),
    ].join('\n');
    process.stdout.write(`${out}\n`);
    const file = saveResults('agent-overhead', {
      started,
      machine: { atStart, loadBefore, loadDuring, atEnd: machine() },
      scenario: sc,
      runId: run.runId,
      samples: { overhead, person, wall, llmMs, execMs },
    });
    if (file) log(`raw results: ${file}`);
  } finally {
    editor?.close();
    await platform.stop();
    await llm.stop();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`agent overhead bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
