import {
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  proxyActivities,
  setHandler,
  uuid4,
} from '@temporalio/workflow';
import type {
  AgentCellProvenance,
  AgentChangeDto,
  AgentFinishReason,
  AgentRunStatus,
  AgentStepDto,
} from '@quire/contracts';
import type { LlmMessage, LlmToolCall } from '../llm/llm-provider';
import { capStepResults, DEFAULT_TRUNCATION_RULES } from '../truncation/output-truncation';
import {
  AGENT_QUERIES,
  AGENT_SIGNALS,
  type AgentActivities,
  type AgentRunInput,
  type AgentRunLiveState,
  type AgentRunResult,
  type CallLlmResult,
  type CellRunResult,
  type DryRunResult,
  type ReviewSignal,
  type RunCellInput,
  type RunUsage,
} from './agent-run.types';
import { AGENT_TOOLS, goalMessage, systemPrompt } from './agent-tools';
import { FINISH_STATUS, microsToDecimal, RepeatDetector, spentBudget } from './loop-rules';

/**
 * One agent run: build context → LLM call → tool calls (notebook edits, cell
 * runs through the gateway's execute queue) → repeat, until the model
 * finishes, a budget is spent, the same failure repeats, or the person stops
 * it. Every LLM call and every cell run is an activity, so the run survives
 * a restart of the agent service and replays like any workflow.
 */

export const stopSignal = defineSignal<[]>(AGENT_SIGNALS.stop);
export const reviewSignal = defineSignal<[ReviewSignal]>(AGENT_SIGNALS.review);
export const stateQuery = defineQuery<AgentRunLiveState>(AGENT_QUERIES.state);

const store = proxyActivities<AgentActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '300 ms', maximumInterval: '5 s', maximumAttempts: 10 },
});

const llm = proxyActivities<Pick<AgentActivities, 'callLlm'>>({
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '10 s',
  retry: {
    initialInterval: '1 s',
    maximumInterval: '10 s',
    maximumAttempts: 3,
    // A wrong key, a refused request or an aborted call does not get better by asking again.
    nonRetryableErrorTypes: ['LlmError.auth', 'LlmError.rejected', 'LlmError.aborted'],
  },
});

const kernel = proxyActivities<Pick<AgentActivities, 'runCell' | 'inspectVariables' | 'dryRunCell'>>({
  // Queue wait plus the agent tier's per-cell cap (the host worker interrupts, then kills, at 60 s).
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '5 s',
  retry: { initialInterval: '1 s', maximumInterval: '5 s', maximumAttempts: 3 },
});

const interrupter = proxyActivities<Pick<AgentActivities, 'interruptCell'>>({
  startToCloseTimeout: '10 s',
  retry: { initialInterval: '200 ms', maximumAttempts: 3 },
});

type Guarded<T> = { kind: 'done'; value: T } | { kind: 'stopped' } | { kind: 'wall' };

interface ToolOutcome {
  content: string;
  finish?: string;
  endReason?: AgentFinishReason;
  endSummary?: string;
  execMs?: number;
  cellId?: string;
  code?: string;
  /** The cell ran in a fork of the kernel first (dry run). */
  dryRun?: boolean;
}

const DAY_MS = 24 * 3600_000;

export async function agentRun(input: AgentRunInput): Promise<AgentRunResult> {
  return new AgentRunLoop(input).execute();
}

class AgentRunLoop {
  private status: AgentRunStatus = 'running';
  private readonly usage: RunUsage = {
    steps: 0,
    promptTokens: 0,
    completionTokens: 0,
    costMicros: 0,
    wallMs: 0,
  };
  private readonly changes: AgentChangeDto[] = [];
  /** Decisions received by signal, applied to the document by the loop (signals only record facts). */
  private readonly decisions = new Map<string, 'accept' | 'reject'>();
  private stopRequested = false;
  private readonly startedAt = Date.now();
  private reviewWaitMs = 0;
  private readonly repeats = new RepeatDetector();
  private readonly messages: LlmMessage[] = [];
  private readonly ref: { runId: string; notebookId: string; orgId: string };
  /** Dry run: forks made and not yet discarded (by label); all go when the run ends. */
  private readonly openForks = new Set<string>();

  constructor(private readonly input: AgentRunInput) {
    this.ref = { runId: input.runId, notebookId: input.notebookId, orgId: input.orgId };
  }

  async execute(): Promise<AgentRunResult> {
    setHandler(stopSignal, () => {
      this.stopRequested = true;
    });
    setHandler(reviewSignal, (req) => {
      const ids = req.changeIds ? new Set(req.changeIds) : null;
      for (const c of this.changes)
        if (c.status === 'pending' && !this.decisions.has(c.changeId) && (!ids || ids.has(c.changeId)))
          this.decisions.set(c.changeId, req.decision);
    });
    setHandler(stateQuery, () => ({
      status: this.status,
      usage: { ...this.usage, wallMs: this.elapsed() },
      changes: this.changes.map((c) => ({ ...c })),
      stopRequested: this.stopRequested,
    }));

    const { notebook } = await store.beginRun(this.input);
    this.messages.push(
      { role: 'system', content: systemPrompt(this.input.mode) },
      { role: 'user', content: goalMessage(this.input.goal, notebook) },
    );

    let reason: AgentFinishReason | null = null;
    let summary: string | null = null;
    while (reason === null) {
      await this.applyDecisions();
      if (this.stopRequested) {
        reason = 'stopped_by_user';
        break;
      }
      this.usage.wallMs = this.elapsed();
      const spent = spentBudget(this.usage, this.input.budget);
      if (spent) {
        reason = spent;
        break;
      }
      const step = this.usage.steps + 1;
      const tokensLeft = this.input.budget.maxTokens - this.usage.promptTokens - this.usage.completionTokens;
      let answer: CallLlmResult;
      try {
        const o = await this.guarded(() =>
          llm.callLlm({
            runId: this.input.runId,
            step,
            messages: this.messages,
            tools: AGENT_TOOLS,
            maxTokens: Math.max(1, Math.min(this.input.maxTokensPerCall ?? 1024, tokensLeft)),
          }),
        );
        if (o.kind !== 'done') {
          reason = o.kind === 'stopped' ? 'stopped_by_user' : 'max_wall_time';
          break;
        }
        answer = o.value;
      } catch (err) {
        reason = 'llm_error';
        summary = `the model could not be reached: ${failureMessage(err)}`;
        break;
      }
      this.usage.steps = step;
      this.usage.promptTokens += answer.promptTokens;
      this.usage.completionTokens += answer.completionTokens;
      this.usage.costMicros += answer.costMicros;
      this.messages.push({
        role: 'assistant',
        content: answer.content || null,
        ...(answer.toolCalls.length ? { toolCalls: answer.toolCalls } : {}),
      });

      const outcomes: ToolOutcome[] = [];
      const done: LlmToolCall[] = [];
      for (const call of answer.toolCalls) {
        if (this.stopRequested) break;
        let outcome: ToolOutcome;
        try {
          outcome = await this.tool(step, call);
        } catch (err) {
          outcome = {
            content: `kernel unavailable: ${failureMessage(err)}`,
            endReason: 'kernel_error',
            endSummary: `the kernel could not be reached: ${failureMessage(err)}`,
          };
        }
        outcomes.push(outcome);
        done.push(call);
        if (outcome.finish !== undefined || outcome.endReason) break;
      }
      const shown = capStepResults(
        outcomes.map((o) => o.content),
        this.input.perStepChars ?? DEFAULT_TRUNCATION_RULES.perStepChars,
      );
      done.forEach((call, i) =>
        this.messages.push({ role: 'tool', toolCallId: call.id, name: call.name, content: shown[i]! }),
      );
      // Calls the model made that were not carried out still need an answer on the next request.
      for (const call of answer.toolCalls.slice(done.length))
        this.messages.push({
          role: 'tool',
          toolCallId: call.id,
          name: call.name,
          content: 'not run: the step ended',
        });

      const finished = outcomes.find((o) => o.finish !== undefined);
      const ended = outcomes.find((o) => o.endReason);
      const lastCell = [...outcomes].reverse().find((o) => o.cellId);
      const stepDto: AgentStepDto = {
        step,
        summary: stepSummary(answer, done, finished?.finish),
        tool: done[0]?.name ?? null,
        cellId: lastCell?.cellId ?? null,
        code: lastCell?.code ?? null,
        outputSummary: shown.length ? shown.join('\n---\n') : null,
        tokens: { prompt: answer.promptTokens, completion: answer.completionTokens },
        cost: microsToDecimal(answer.costMicros),
        execMs: outcomes.reduce((s, o) => s + (o.execMs ?? 0), 0),
        dryRun: outcomes.some((o) => o.dryRun),
        at: new Date().toISOString(),
      };
      this.usage.wallMs = this.elapsed();
      await store.recordStep({
        runId: this.input.runId,
        orgId: this.input.orgId,
        step: stepDto,
        usage: this.usage,
      });
      await this.saveProgress();

      if (finished) {
        reason = 'finished';
        summary = finished.finish ?? null;
      } else if (ended) {
        reason = ended.endReason!;
        summary = ended.endSummary ?? null;
      } else if (this.stopRequested) {
        reason = 'stopped_by_user';
      } else if (answer.toolCalls.length === 0) {
        if (answer.content.trim()) {
          // A plain answer without tools is the model's closing word.
          reason = 'finished';
          summary = answer.content.trim();
        } else {
          this.messages.push({
            role: 'user',
            content: 'Use one of the tools, or call finish with a summary.',
          });
        }
      }
    }

    await this.settlePendingChanges(reason === 'stopped_by_user');
    for (const label of [...this.openForks]) await this.discardFork(label);
    const status = FINISH_STATUS[reason];
    this.status = status;
    this.usage.wallMs = this.elapsed();
    await store.finishRun({
      runId: this.input.runId,
      orgId: this.input.orgId,
      status,
      reason,
      summary,
      usage: this.usage,
      changes: this.changes,
    });
    return {
      status,
      reason,
      summary,
      usage: { ...this.usage },
      changes: this.changes.map((c) => ({ ...c })),
    };
  }

  private elapsed(): number {
    return Date.now() - this.startedAt - this.reviewWaitMs;
  }

  private provenance(step: number, state: AgentCellProvenance['state']): AgentCellProvenance {
    return {
      runId: this.input.runId,
      onBehalfOf: { userId: this.input.userId, name: this.input.userName },
      step,
      state,
    };
  }

  /**
   * Runs `fn` until it ends, the person stops the run, or the wall-time budget
   * runs out; on the last two it is cancelled (and a running cell interrupted).
   */
  private async guarded<T>(fn: () => Promise<T>, cell?: RunCellInput): Promise<Guarded<T>> {
    const remaining = Math.max(1, this.input.budget.maxWallMs - this.elapsed());
    const work = new CancellationScope();
    const workP = work.run(fn).then(
      (value) => ({ kind: 'done' as const, value }),
      (err: unknown) => ({ kind: 'error' as const, err }),
    );
    const watch = new CancellationScope();
    const watchP = watch
      .run(() => condition(() => this.stopRequested, remaining))
      .then(
        (stopped) => (stopped ? ('stopped' as const) : ('wall' as const)),
        () => 'cancelled' as const,
      );
    const first = await Promise.race([workP, watchP]);
    if (first === 'stopped' || first === 'wall') {
      work.cancel();
      if (cell) {
        try {
          await interrupter.interruptCell(cell);
        } catch {
          // The cell's own activity interrupts it too when it sees the cancellation.
        }
      }
      await workP;
      return { kind: first };
    }
    watch.cancel();
    await watchP;
    if (first === 'cancelled') throw new Error('unreachable: the watch was cancelled first');
    if (first.kind === 'error') {
      if (isCancellation(first.err) && this.stopRequested) return { kind: 'stopped' };
      throw first.err;
    }
    return first;
  }

  private async tool(step: number, call: LlmToolCall): Promise<ToolOutcome> {
    const args = call.arguments;
    const str = (k: string): string | null => (typeof args[k] === 'string' ? (args[k] as string) : null);
    const bool = (k: string, dflt: boolean): boolean =>
      typeof args[k] === 'boolean' ? (args[k] as boolean) : dflt;
    switch (call.name) {
      case 'read_notebook':
        return { content: await store.readNotebook(this.ref) };
      case 'inspect_variables': {
        const names = Array.isArray(args.names)
          ? args.names.filter((n): n is string => typeof n === 'string')
          : null;
        const o = await this.guarded(() =>
          kernel.inspectVariables({
            ...this.ref,
            kernelId: this.input.kernelId,
            userId: this.input.userId,
            userName: this.input.userName,
            names,
            runKey: `${this.input.runId}:${step}:${call.id}:inspect`,
          }),
        );
        return this.guardedContent(o, (v) => v);
      }
      case 'insert_cell': {
        const source = str('source');
        if (!source?.trim()) return { content: 'error: insert_cell needs a non-empty "source" string' };
        const afterCellId = str('after_cell_id');
        if (afterCellId && (await store.cellSource({ ...this.ref, cellId: afterCellId })) === null)
          return { content: `error: there is no cell ${afterCellId}` };
        const cellId = uuid4();
        const review = this.input.mode === 'review';
        await store.insertCell({
          ...this.ref,
          cellId,
          source,
          afterCellId,
          provenance: this.provenance(step, review ? 'pending' : 'applied'),
        });
        const change = this.addChange('insert_cell', cellId, source, review ? 'pending' : 'applied');
        const inserted = `inserted cell ${cellId}`;
        if (!bool('run', true))
          return {
            content: review ? `${inserted} (pending the person's review)` : inserted,
            cellId,
            code: source,
          };
        return this.runFlow(step, cellId, source, review ? change : null, inserted);
      }
      case 'edit_cell': {
        const cellId = str('cell_id');
        const source = str('source');
        if (!cellId || source === null)
          return { content: 'error: edit_cell needs "cell_id" and "source" strings' };
        if ((await store.cellSource({ ...this.ref, cellId })) === null)
          return { content: `error: there is no cell ${cellId}` };
        const review = this.input.mode === 'review';
        const change = this.addChange('edit_cell', cellId, source, review ? 'pending' : 'applied');
        if (!review)
          await store.editCell({ ...this.ref, cellId, source, provenance: this.provenance(step, 'applied') });
        if (!bool('run', false))
          return {
            content: review
              ? `edit of ${cellId} proposed (pending the person's review)`
              : `edited cell ${cellId}`,
            cellId,
            code: source,
          };
        return this.runFlow(step, cellId, source, review ? change : null, `edited cell ${cellId}`);
      }
      case 'delete_cell': {
        const cellId = str('cell_id');
        if (!cellId) return { content: 'error: delete_cell needs a "cell_id" string' };
        if ((await store.cellSource({ ...this.ref, cellId })) === null)
          return { content: `error: there is no cell ${cellId}` };
        if (this.input.mode === 'review') {
          this.addChange('delete_cell', cellId, null, 'pending');
          return { content: `deletion of ${cellId} proposed (pending the person's review)` };
        }
        await store.deleteCell({ ...this.ref, cellId });
        this.addChange('delete_cell', cellId, null, 'applied');
        return { content: `deleted cell ${cellId}` };
      }
      case 'run_cell': {
        const cellId = str('cell_id');
        if (!cellId) return { content: 'error: run_cell needs a "cell_id" string' };
        const source = await store.cellSource({ ...this.ref, cellId });
        if (source === null) return { content: `error: there is no cell ${cellId}` };
        const pendingInsert = this.changes.find(
          (c) => c.cellId === cellId && c.kind === 'insert_cell' && c.status === 'pending',
        );
        const review = this.input.mode === 'review';
        const change = review
          ? (pendingInsert ?? this.addChange('run_cell', cellId, source, 'pending'))
          : this.addChange('run_cell', cellId, source, 'applied');
        return this.runFlow(step, cellId, source, review ? change : null, `cell ${cellId}`);
      }
      case 'finish': {
        const summary = str('summary');
        return { content: 'finished', finish: summary?.trim() || 'done' };
      }
      default:
        return {
          content: `error: there is no tool ${JSON.stringify(call.name)}; the tools are ${AGENT_TOOLS.map((t) => t.name).join(', ')}`,
        };
    }
  }

  private guardedContent<T>(o: Guarded<T>, show: (v: T) => string): ToolOutcome {
    if (o.kind === 'done') return { content: show(o.value) };
    return o.kind === 'stopped'
      ? { content: 'stopped by the person', endReason: 'stopped_by_user' }
      : { content: 'stopped: the run is out of time', endReason: 'max_wall_time' };
  }

  /** Waits for the person's decision when the change is pending, then runs the cell. */
  private async runFlow(
    step: number,
    cellId: string,
    source: string,
    pending: AgentChangeDto | null,
    what: string,
  ): Promise<ToolOutcome> {
    let dryRun: DryRunResult | null = null;
    if (pending && this.input.dryRun && !pending.dryRun) {
      // Dry run: the cell runs in a fork first; the person decides with its output in front of them.
      const label = `s${step}-${this.changes.indexOf(pending)}`;
      this.openForks.add(label);
      const o = await this.guarded(() =>
        kernel.dryRunCell({
          ...this.ref,
          userId: this.input.userId,
          userName: this.input.userName,
          label,
          source,
        }),
      );
      if (o.kind !== 'done') return { ...this.guardedContent(o, () => ''), cellId, code: source };
      dryRun = o.value;
      pending.dryRun = {
        forkKernelId: dryRun.forkKernelId,
        status: dryRun.status,
        ms: dryRun.ms,
        output: dryRun.shown,
      };
    }
    if (pending) {
      const decision = await this.waitForDecision(pending);
      for (const label of [...this.openForks]) await this.discardFork(label);
      const inFork = dryRun
        ? `\nin a fork of the kernel it ran: ${dryRun.status} in ${dryRun.ms} ms\n${dryRun.shown}`
        : '';
      if (decision === 'stopped')
        return { content: 'stopped by the person', endReason: 'stopped_by_user', cellId, code: source };
      if (decision === 'reject')
        return {
          content: `${what}: the person rejected this change${pending.kind === 'insert_cell' ? ' and the cell was removed' : ''}; nothing ran in the live kernel${inFork}`,
          cellId,
          code: source,
          ...(dryRun ? { execMs: dryRun.ms, dryRun: true } : {}),
        };
    }
    const runInput: RunCellInput = {
      ...this.ref,
      kernelId: this.input.kernelId,
      userId: this.input.userId,
      userName: this.input.userName,
      cellId,
      runKey: `${this.input.runId}:${step}:${cellId}:${uuid4()}`,
    };
    const o = await this.guarded(() => kernel.runCell(runInput), runInput);
    if (o.kind !== 'done') return { ...this.guardedContent(o, () => ''), cellId, code: source };
    const r: CellRunResult = o.value;
    if (pending && pending.status === 'accepted') {
      pending.status = 'applied';
      await store.setProvenance({ ...this.ref, cellId, provenance: this.provenance(step, 'applied') });
    }
    const head = `${what} ran: ${r.status} in ${r.ms} ms${r.executionCount !== null ? ` (execution ${r.executionCount})` : ''}`;
    const outcome: ToolOutcome = {
      content: `${head}\n${r.shown}`,
      execMs: r.ms + (dryRun?.ms ?? 0),
      cellId,
      code: source,
      ...(dryRun ? { dryRun: true } : {}),
    };
    if (r.status === 'error' || r.status === 'timeout') {
      const error = r.error ? `${r.error.ename}: ${r.error.evalue}` : r.status;
      const repeated = this.repeats.recordFailure(source, error);
      if (repeated) return { ...outcome, endReason: 'repeated_failure', endSummary: repeated };
    }
    return outcome;
  }

  /** The fork goes (kernel and image); a failure to discard is logged by the activity, never ends the run. */
  private async discardFork(label: string): Promise<void> {
    try {
      await store.discardFork({
        ...this.ref,
        userId: this.input.userId,
        userName: this.input.userName,
        label,
      });
    } catch {
      // The host discards forks when it restarts; billing sees their SandboxExited then.
    }
    this.openForks.delete(label);
  }

  private addChange(
    kind: AgentChangeDto['kind'],
    cellId: string,
    source: string | null,
    status: AgentChangeDto['status'],
  ): AgentChangeDto {
    const change: AgentChangeDto = { changeId: uuid4(), kind, cellId, source, status };
    this.changes.push(change);
    return change;
  }

  private async waitForDecision(change: AgentChangeDto): Promise<'accept' | 'reject' | 'stopped'> {
    if (!this.decisions.has(change.changeId)) {
      this.status = 'awaiting_review';
      await this.saveProgress();
      const since = Date.now();
      await condition(() => this.decisions.has(change.changeId) || this.stopRequested);
      this.reviewWaitMs += Date.now() - since;
      this.status = 'running';
    }
    await this.applyDecisions();
    await this.saveProgress();
    if (change.status === 'pending') return 'stopped';
    return change.status === 'rejected' ? 'reject' : 'accept';
  }

  /** Applies recorded decisions to the document: accepted changes take effect, rejected ones leave no trace. */
  private async applyDecisions(): Promise<void> {
    for (const change of this.changes) {
      const decision = this.decisions.get(change.changeId);
      if (!decision || change.status !== 'pending') continue;
      await this.applyDecision(change, decision);
    }
  }

  private async applyDecision(change: AgentChangeDto, decision: 'accept' | 'reject'): Promise<void> {
    const cell = { ...this.ref, cellId: change.cellId };
    const step = this.usage.steps;
    if (decision === 'reject') {
      if (change.kind === 'insert_cell') await store.deleteCell(cell);
      change.status = 'rejected';
      return;
    }
    if (change.kind === 'insert_cell')
      await store.setProvenance({ ...cell, provenance: this.provenance(step, 'accepted') });
    if (change.kind === 'edit_cell')
      await store.editCell({
        ...cell,
        source: change.source ?? '',
        provenance: this.provenance(step, 'accepted'),
      });
    if (change.kind === 'delete_cell') await store.deleteCell(cell);
    change.status = 'accepted';
  }

  /**
   * Pending changes when the model is done: the person still decides them
   * (the run waits, up to reviewTimeoutMs); after a stop they are rejected.
   */
  private async settlePendingChanges(stopped: boolean): Promise<void> {
    const undecided = () =>
      this.changes.some((c) => c.status === 'pending' && !this.decisions.has(c.changeId));
    if (!stopped && undecided()) {
      this.status = 'awaiting_review';
      await this.saveProgress();
      const since = Date.now();
      await condition(() => !undecided() || this.stopRequested, this.input.reviewTimeoutMs ?? DAY_MS);
      this.reviewWaitMs += Date.now() - since;
    }
    await this.applyDecisions();
    for (const c of this.changes) if (c.status === 'pending') await this.applyDecision(c, 'reject');
  }

  private async saveProgress(): Promise<void> {
    await store.saveProgress({
      runId: this.input.runId,
      status: this.status,
      changes: this.changes,
      usage: { ...this.usage, wallMs: this.elapsed() },
    });
  }
}

function stepSummary(answer: CallLlmResult, calls: LlmToolCall[], finish: string | undefined): string {
  if (finish !== undefined) return `finish: ${oneLine(finish)}`;
  if (calls.length)
    return calls.map((c) => c.name).join(', ') + (answer.content ? ` — ${oneLine(answer.content)}` : '');
  return answer.content ? oneLine(answer.content) : '(no answer)';
}

function oneLine(s: string): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

function failureMessage(err: unknown): string {
  let e: unknown = err;
  // ActivityFailure → ApplicationFailure: the words are on the cause.
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause)
    e = (e as { cause: unknown }).cause;
  return e instanceof Error ? e.message : String(e);
}
