import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AgentCellProvenance } from '@quire/contracts';
import type { LlmMessage, LlmToolCall } from '../../src/llm/llm-provider';
import type {
  AgentActivities,
  CallLlmInput,
  CallLlmResult,
  CellRunResult,
  FinishRunInput,
  RecordStepInput,
  RunCellInput,
  SaveProgressInput,
} from '../../src/workflows/agent-run.types';

/**
 * In-memory activities for workflow tests: a notebook as a list of cells, a
 * scripted model, a kernel whose behaviour the test chooses per code. One
 * FakeWorld per run id, so one worker serves every test.
 */
export interface FakeCell {
  id: string;
  source: string;
  provenance: AgentCellProvenance | null;
}

export type ModelTurn = (
  req: CallLlmInput,
  world: FakeWorld,
) => Promise<Partial<CallLlmResult>> | Partial<CallLlmResult>;
export type KernelBehaviour = (
  code: string,
  world: FakeWorld,
) => Promise<Partial<CellRunResult>> | Partial<CellRunResult>;

export class FakeWorld {
  cells: FakeCell[] = [];
  readonly llmRequests: CallLlmInput[] = [];
  readonly runs: { cellId: string; code: string; at: number; cancelled?: boolean }[] = [];
  readonly interrupts: { cellId: string; at: number }[] = [];
  /** Dry runs: code run in a fork (never in `runs`), and the fork labels discarded. */
  readonly dryRuns: { label: string; code: string }[] = [];
  readonly discardedForks: string[] = [];
  readonly steps: RecordStepInput[] = [];
  readonly progress: SaveProgressInput[] = [];
  finished: FinishRunInput | null = null;
  began = 0;

  constructor(
    readonly model: ModelTurn,
    readonly kernel: KernelBehaviour = () => ({ status: 'ok', shown: '(no output)' }),
  ) {}

  cell(id: string): FakeCell | undefined {
    return this.cells.find((c) => c.id === id);
  }
}

let callCounter = 0;
/** A model answer calling tools. */
export function callTools(
  calls: { name: string; args: Record<string, unknown> }[],
  usage = { prompt: 100, completion: 20 },
  costMicros = 1000,
): Partial<CallLlmResult> {
  const toolCalls: LlmToolCall[] = calls.map((c) => ({
    id: `call_${++callCounter}`,
    name: c.name,
    arguments: c.args,
  }));
  return {
    content: '',
    toolCalls,
    promptTokens: usage.prompt,
    completionTokens: usage.completion,
    costMicros,
    finishReason: 'tool_calls',
  };
}

/** Waits like a running activity: heartbeats so cancellation reaches it; resolves false when cancelled. */
export async function busy(ms: number): Promise<boolean> {
  const ctx = Context.current();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    ctx.heartbeat();
    const cancelled = await Promise.race([
      ctx.cancelled.then(
        () => true,
        () => true,
      ),
      new Promise<false>((r) => setTimeout(() => r(false), 50)),
    ]);
    if (cancelled) return false;
  }
  return true;
}

export function toolMessages(req: CallLlmInput): Extract<LlmMessage, { role: 'tool' }>[] {
  return req.messages.filter((m): m is Extract<LlmMessage, { role: 'tool' }> => m.role === 'tool');
}

export function createFakeActivities(worlds: Map<string, FakeWorld>): AgentActivities {
  const w = (runId: string): FakeWorld => {
    const world = worlds.get(runId);
    if (!world) throw new Error(`no fake world for run ${runId}`);
    return world;
  };
  const render = (world: FakeWorld) =>
    world.cells.map((c) => `cell ${c.id}:\n${c.source}`).join('\n') || '(empty notebook)';
  return {
    async beginRun(input) {
      const world = w(input.runId);
      world.began++;
      return { notebook: render(world) };
    },
    async callLlm(input) {
      const world = w(input.runId);
      world.llmRequests.push(structuredClone(input));
      const answer = await world.model(input, world);
      return {
        content: '',
        toolCalls: [],
        promptTokens: 0,
        completionTokens: 0,
        costMicros: 0,
        finishReason: 'stop',
        ...answer,
      };
    },
    async readNotebook(ref) {
      return render(w(ref.runId));
    },
    async cellSource(input) {
      return w(input.runId).cell(input.cellId)?.source ?? null;
    },
    async insertCell(input) {
      const world = w(input.runId);
      if (world.cell(input.cellId)) return;
      const at = input.afterCellId
        ? world.cells.findIndex((c) => c.id === input.afterCellId) + 1
        : world.cells.length;
      world.cells.splice(at, 0, { id: input.cellId, source: input.source, provenance: input.provenance });
    },
    async editCell(input) {
      const c = w(input.runId).cell(input.cellId);
      if (c) Object.assign(c, { source: input.source, provenance: input.provenance });
    },
    async deleteCell(input) {
      const world = w(input.runId);
      world.cells = world.cells.filter((c) => c.id !== input.cellId);
    },
    async setProvenance(input) {
      const c = w(input.runId).cell(input.cellId);
      if (c) c.provenance = input.provenance;
    },
    async runCell(input: RunCellInput) {
      const world = w(input.runId);
      const cell = world.cell(input.cellId);
      if (!cell)
        throw ApplicationFailure.nonRetryable(`no cell ${input.cellId}`, 'AgentError.cell_not_found');
      const entry = {
        cellId: input.cellId,
        code: cell.source,
        at: Date.now(),
      } as (typeof world.runs)[number];
      world.runs.push(entry);
      const t0 = Date.now();
      const r = await world.kernel(cell.source, world);
      if (Context.current().cancellationSignal.aborted) entry.cancelled = true;
      return {
        executionId: `exec-${world.runs.length}`,
        status: 'ok',
        ms: Date.now() - t0,
        executionCount: world.runs.length,
        shown: '(no output)',
        error: null,
        ...r,
      };
    },
    async interruptCell(input) {
      w(input.runId).interrupts.push({ cellId: input.cellId, at: Date.now() });
    },
    async inspectVariables(input) {
      return `variables of ${input.kernelId}: df DataFrame (3, 2)`;
    },
    async dryRunCell(input) {
      const world = w(input.runId);
      world.dryRuns.push({ label: input.label, code: input.source });
      const r = await world.kernel(input.source, world);
      return {
        forkKernelId: `fork.${input.runId}.${input.label}-a1`,
        status: r.status ?? 'ok',
        ms: r.ms ?? 1,
        shown: `(fork) ${r.shown ?? '(no output)'}`,
        error: r.error ?? null,
        parentPauseMs: 1,
      };
    },
    async discardFork(input) {
      w(input.runId).discardedForks.push(input.label);
    },
    async recordStep(input) {
      w(input.runId).steps.push(structuredClone(input));
    },
    async saveProgress(input) {
      w(input.runId).progress.push(structuredClone(input));
    },
    async finishRun(input) {
      w(input.runId).finished = structuredClone(input);
    },
  };
}
