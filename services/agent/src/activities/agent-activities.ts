import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { forkKernelIdOf, type NotebookOutput } from '@quire/contracts';
import * as Y from 'yjs';
import { inspectSnippet } from '../kernel/inspect-snippet';
import { KernelChannelClient } from '../kernel/kernel-channel-client';
import { KernelForkClient, KernelForkError } from '../kernel/kernel-fork-client';
import { LlmError, type LlmProvider } from '../llm/llm-provider';
import type { AgentDocs } from '../notebook/agent-docs';
import {
  deleteCell,
  editCell,
  executionOf,
  findCell,
  insertCell,
  markRun,
  outputsOf,
  renderNotebook,
  runMarkOf,
  setProvenance,
  sourceOf,
} from '../notebook/notebook-edits';
import type { AgentStore } from '../store/agent-store';
import {
  DEFAULT_TRUNCATION_RULES,
  truncateOutputs,
  type TruncationRules,
} from '../truncation/output-truncation';
import type {
  AgentActivities,
  CellRunResult,
  CellRunStatus,
  RunCellInput,
} from '../workflows/agent-run.types';
import { decimalToMicros } from '../workflows/loop-rules';
import type { AgentTokens } from '../auth/agent-tokens';
import type { RunEventBus } from '../events/run-event-bus';
import type { RunLlm } from '../settings/run-llm';

/**
 * The agent-run workflow's activities. Each is safe to retry: edits are
 * idempotent by cell id, events are written once per row, and a cell run
 * leaves a mark in the cell's metadata so a retried run (after a crash) finds
 * its execution instead of running the cell a second time.
 */
export interface AgentActivityDeps {
  store: AgentStore;
  docs: AgentDocs;
  tokens: AgentTokens;
  /** ws(s)://gateway — the kernel channel is under /api/notebooks/:id/kernel-channel. */
  gatewayWsBase: string;
  llm: LlmProvider;
  model: string;
  /** Decimal prices per 1M tokens in the price book's currency. */
  pricePerMTokens: { prompt: string; completion: string };
  bus?: RunEventBus;
  truncation?: TruncationRules;
  /** Per-run provider from the org's settings (src/settings/); without it every run uses `llm` above. */
  llmFor?: (runId: string) => Promise<RunLlm>;
}

const FINAL = new Set(['ok', 'error', 'interrupted', 'kernel_died', 'aborted']);
/** A run marked this long ago with no execution in the document after it was never queued: submit it. */
const SUBMIT_EVIDENCE_WAIT_MS = 3_000;
/** Allowed clock difference between the agent and the gateway when matching an execution to a mark. */
const CLOCK_SKEW_MS = 1_000;

export function llmCost(
  promptTokens: number,
  completionTokens: number,
  prices: { prompt: string; completion: string },
): number {
  const p = BigInt(decimalToMicros(prices.prompt));
  const c = BigInt(decimalToMicros(prices.completion));
  const micros = BigInt(promptTokens) * p + BigInt(completionTokens) * c;
  // Per 1M tokens; rounded up to a whole millionth.
  return Number((micros + 999_999n) / 1_000_000n);
}

function heartbeatEvery(ms: number): () => void {
  const ctx = Context.current();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), ms);
  return () => clearInterval(timer);
}

export function createAgentActivities(deps: AgentActivityDeps): AgentActivities {
  const rules = deps.truncation ?? DEFAULT_TRUNCATION_RULES;
  const channelUrl = (notebookId: string) =>
    `${deps.gatewayWsBase.replace(/\/$/, '')}/api/notebooks/${encodeURIComponent(notebookId)}/kernel-channel`;
  const openChannel = async (i: {
    runId: string;
    notebookId: string;
    orgId: string;
    userId: string;
    userName: string;
  }) =>
    KernelChannelClient.open(
      channelUrl(i.notebookId),
      await deps.tokens.agent({
        userId: i.userId,
        userName: i.userName,
        orgId: i.orgId,
        notebookId: i.notebookId,
        runId: i.runId,
      }),
    );

  /** The gateway's HTTP base for the kernel-fork routes (the same gateway as the kernel channel). */
  const forkClient = async (i: {
    runId: string;
    notebookId: string;
    orgId: string;
    userId: string;
    userName: string;
  }) =>
    new KernelForkClient(
      deps.gatewayWsBase.replace(/^ws/, 'http'),
      await deps.tokens.agent({
        userId: i.userId,
        userName: i.userName,
        orgId: i.orgId,
        notebookId: i.notebookId,
        runId: i.runId,
      }),
    );
  const forkFailure = (err: unknown) =>
    err instanceof KernelForkError
      ? ApplicationFailure.create({
          message: `dry run: ${err.message}`,
          type: `KernelForkError.${err.code}`,
          nonRetryable: !err.retryable,
        })
      : err;
  /** Every attempt of a dry-run activity forks afresh, so a retried one never runs the code twice in one fork (the workflow's kernel activities retry 3 times). */
  const DRY_RUN_ATTEMPTS = 3;

  const cellMissing = (cellId: string) =>
    ApplicationFailure.nonRetryable(
      `there is no cell ${cellId} in the notebook`,
      'AgentError.cell_not_found',
    );

  /** The result of an execution as the document holds it (the gateway writes outputs there). */
  async function resultFromDoc(
    i: RunCellInput,
    executionId: string,
    waitMs: number,
  ): Promise<CellRunResult | null> {
    return deps.docs.use(i.notebookId, i.orgId, async (live) => {
      const done = () => {
        const c = findCell(live.doc, i.cellId)?.cell;
        const e = c ? executionOf(c) : null;
        return !!e && e.executionId === executionId && FINAL.has(e.status);
      };
      try {
        await live.waitFor(done, waitMs, `execution ${executionId}`);
      } catch {
        return null;
      }
      const cell = findCell(live.doc, i.cellId)!.cell;
      const e = executionOf(cell)!;
      const outputs = outputsOf(cell);
      return {
        executionId,
        status: e.status as CellRunStatus,
        ms: e.ms ?? 0,
        executionCount: (cell.get('execution_count') as number | null | undefined) ?? null,
        shown: truncateOutputs(outputs, rules),
        error: firstError(outputs),
      };
    });
  }

  async function runCell(i: RunCellInput): Promise<CellRunResult> {
    const ctx = Context.current();
    const stopBeat = heartbeatEvery(1_000);
    try {
      // Did an earlier attempt of this activity submit the run already?
      const prior = await deps.docs.use(i.notebookId, i.orgId, async (live) => {
        const found = findCell(live.doc, i.cellId);
        if (!found) throw cellMissing(i.cellId);
        const mark = runMarkOf(found.cell);
        if (mark?.runKey !== i.runKey) {
          markRun(live.doc, i.cellId, { runKey: i.runKey, at: new Date().toISOString() });
          return null;
        }
        if (mark.executionId) return mark.executionId;
        // Marked, but the execution id was not recorded: the gateway's queued entry says whether it was sent.
        const sent = () => {
          const e = executionOf(findCell(live.doc, i.cellId)?.cell ?? new Y.Map());
          return !!e && Date.parse(e.queuedAt) >= Date.parse(mark.at) - CLOCK_SKEW_MS;
        };
        try {
          await live.waitFor(sent, SUBMIT_EVIDENCE_WAIT_MS, 'an earlier submission');
          return executionOf(findCell(live.doc, i.cellId)!.cell)!.executionId;
        } catch {
          return null;
        }
      });
      if (prior) {
        const r = await Promise.race([resultFromDoc(i, prior, 15 * 60_000), ctx.cancelled]);
        if (r) return r;
      }

      const channel = await openChannel(i);
      try {
        const executionId = await channel.run(i.cellId);
        await deps.docs.use(i.notebookId, i.orgId, (live) =>
          markRun(live.doc, i.cellId, { runKey: i.runKey, at: new Date().toISOString(), executionId }),
        );
        let finished;
        try {
          finished = await Promise.race([channel.whenFinished(executionId), ctx.cancelled]);
        } catch (err) {
          if (err instanceof CancelledFailure) await channel.stop(executionId).catch(() => undefined);
          throw err;
        }
        const fromDoc = await resultFromDoc(i, executionId, 10_000);
        const outputs: NotebookOutput[] = channel.outputsOf(executionId);
        return {
          ...(fromDoc ?? {
            shown: truncateOutputs(outputs, rules),
            error: firstError(outputs),
          }),
          executionId,
          status: finished.status,
          ms: finished.ms,
          executionCount: finished.executionCount,
        };
      } finally {
        channel.close();
      }
    } finally {
      stopBeat();
    }
  }

  return {
    async beginRun(input) {
      return deps.docs.use(input.notebookId, input.orgId, async (live) => {
        await deps.store.beginRun(
          {
            runId: input.runId,
            notebookId: input.notebookId,
            orgId: input.orgId,
            kernelId: input.kernelId,
            userId: input.userId,
            userName: input.userName,
            goal: input.goal,
            mode: input.mode,
            dryRun: input.dryRun === true,
            provider: input.provider,
            budget: input.budget,
          },
          Y.encodeStateAsUpdate(live.doc),
        );
        return { notebook: renderNotebook(live.doc) };
      });
    },

    async callLlm(input) {
      const ctx = Context.current();
      const stopBeat = heartbeatEvery(1_000);
      let chosen: RunLlm | null = null;
      try {
        try {
          chosen = deps.llmFor
            ? await deps.llmFor(input.runId)
            : {
                llm: deps.llm,
                model: deps.model,
                pricePerMTokens: deps.pricePerMTokens,
                label: deps.llm.kind,
              };
        } catch (err) {
          // The org's settings cannot be used (e.g. its stored key does not decrypt): end the run, say why.
          throw ApplicationFailure.create({
            message: `the org's LLM provider settings cannot be used: ${err instanceof Error ? err.message : String(err)}`,
            type: 'LlmError.auth',
            nonRetryable: true,
          });
        }
        const res = await chosen.llm.complete({
          model: chosen.model,
          messages: input.messages,
          tools: input.tools,
          maxTokens: input.maxTokens,
          signal: ctx.cancellationSignal,
          onToken: (text) => deps.bus?.token(input.runId, input.step, text),
        });
        return {
          content: res.content,
          toolCalls: res.toolCalls,
          promptTokens: res.usage.promptTokens,
          completionTokens: res.usage.completionTokens,
          costMicros: llmCost(res.usage.promptTokens, res.usage.completionTokens, chosen.pricePerMTokens),
          finishReason: res.finishReason,
        };
      } catch (err) {
        if (err instanceof LlmError) {
          if (err.kind === 'aborted' && ctx.cancellationSignal.aborted) throw err;
          throw ApplicationFailure.create({
            message: chosen ? `LLM provider ${chosen.label}: ${err.message}` : err.message,
            type: `LlmError.${err.kind}`,
            nonRetryable: !err.retryable && err.kind !== 'bad_response',
          });
        }
        throw err;
      } finally {
        stopBeat();
      }
    },

    async readNotebook(ref) {
      return deps.docs.use(ref.notebookId, ref.orgId, (live) => renderNotebook(live.doc));
    },

    async cellSource(input) {
      return deps.docs.use(input.notebookId, input.orgId, (live) => {
        const found = findCell(live.doc, input.cellId);
        return found ? sourceOf(found.cell) : null;
      });
    },

    async insertCell(input) {
      await deps.docs.use(input.notebookId, input.orgId, (live) =>
        insertCell(live.doc, input.cellId, input.source, input.afterCellId, input.provenance),
      );
    },

    async editCell(input) {
      await deps.docs.use(input.notebookId, input.orgId, (live) => {
        if (!editCell(live.doc, input.cellId, input.source, input.provenance))
          throw cellMissing(input.cellId);
      });
    },

    async deleteCell(input) {
      await deps.docs.use(input.notebookId, input.orgId, (live) => deleteCell(live.doc, input.cellId));
    },

    async setProvenance(input) {
      await deps.docs.use(input.notebookId, input.orgId, (live) =>
        setProvenance(live.doc, input.cellId, input.provenance),
      );
    },

    runCell,

    async interruptCell(input) {
      const channel = await openChannel(input);
      try {
        await channel.whenQueueKnown();
        await channel.interruptIfRunning(input.cellId);
      } finally {
        channel.close();
      }
    },

    async inspectVariables(input) {
      // A scratch cell at the end, run and removed again: the kernel channel runs cells only.
      const cellId = `agent-inspect-${createHash('sha256').update(input.runKey).digest('hex').slice(0, 24)}`;
      await deps.docs.use(input.notebookId, input.orgId, (live) =>
        insertCell(live.doc, cellId, inspectSnippet(input.names), null, {
          runId: input.runId,
          onBehalfOf: { userId: input.userId, name: input.userName },
          step: 0,
          state: 'applied',
        }),
      );
      try {
        const r = await runCell({ ...input, cellId });
        if (r.status !== 'ok') return `the inspection did not complete (${r.status}): ${r.shown}`;
        return r.shown;
      } finally {
        await deps.docs.use(input.notebookId, input.orgId, (live) => deleteCell(live.doc, cellId));
      }
    },

    async dryRunCell(input) {
      const ctx = Context.current();
      const stopBeat = heartbeatEvery(1_000);
      const attempt = ctx.info.attempt;
      const client = await forkClient(input);
      try {
        // An earlier attempt's fork may hold a half-run cell: it goes first.
        if (attempt > 1)
          await client.discard(
            input.notebookId,
            forkKernelIdOf(input.runId, `${input.label}-a${attempt - 1}`),
          );
        const fork = await client.fork(input.notebookId, `${input.label}-a${attempt}`);
        const abort = new AbortController();
        ctx.cancelled.catch(() => abort.abort());
        const r = await client.run(input.notebookId, fork.forkKernelId, input.source, abort.signal);
        return {
          forkKernelId: fork.forkKernelId,
          status: r.status,
          ms: r.ms,
          shown: truncateOutputs(r.outputs, rules),
          error: firstError(r.outputs),
          parentPauseMs: fork.parentPauseMs,
        };
      } catch (err) {
        throw forkFailure(err);
      } finally {
        stopBeat();
      }
    },

    async discardFork(input) {
      const client = await forkClient(input);
      try {
        for (let a = 1; a <= DRY_RUN_ATTEMPTS; a++)
          await client.discard(input.notebookId, forkKernelIdOf(input.runId, `${input.label}-a${a}`));
      } catch (err) {
        throw forkFailure(err);
      }
    },

    async recordStep(input) {
      await deps.store.recordStep(input.runId, input.orgId, input.step, input.usage);
      deps.bus?.changed(input.runId);
    },

    async saveProgress(input) {
      await deps.store.saveProgress(input.runId, input.status, input.changes, input.usage);
      deps.bus?.changed(input.runId);
    },

    async finishRun(input) {
      await deps.store.finishRun(input);
      deps.bus?.changed(input.runId);
    },
  };
}

function firstError(outputs: NotebookOutput[]): { ename: string; evalue: string } | null {
  const e = outputs.find((o) => o.output_type === 'error');
  return e && e.output_type === 'error' ? { ename: e.ename, evalue: e.evalue } : null;
}
