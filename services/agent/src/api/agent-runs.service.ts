import {
  AgentBudgetDto,
  DEFAULT_AGENT_BUDGET,
  NOTEBOOK_ROLE_RANK,
  uuidv7,
  type AgentReviewRequest,
  type AgentRunDto,
  type InternalStartAgentRunRequest,
  type NotebookRole,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { undoRun } from '../notebook/notebook-edits';
import type { AgentRuntime } from '../runtime/agent-runtime';
import type { StoredRun } from '../store/agent-store';
import {
  AGENT_QUERIES,
  AGENT_RUN_WORKFLOW,
  AGENT_SIGNALS,
  agentRunWorkflowId,
  type AgentRunInput,
  type AgentRunLiveState,
} from '../workflows/agent-run.types';
import { microsToDecimal } from '../workflows/loop-rules';

/** Who the gateway says is calling (AGENT_CALLER_HEADERS). */
export interface AgentCaller {
  userId: string;
  userName: string;
  orgId: string;
  role: NotebookRole;
  kernelId: string | null;
  notebookId: string | null;
}

const notFound = () => new QuireError('not_found', 'there is no such agent run', 'agent.run_not_found');

/** The internal API's operations on runs (the controller only parses and authenticates). */
export class AgentRunsService {
  constructor(private readonly rt: AgentRuntime) {}

  async start(caller: AgentCaller, req: InternalStartAgentRunRequest): Promise<AgentRunDto> {
    if (NOTEBOOK_ROLE_RANK[caller.role] < NOTEBOOK_ROLE_RANK.editor)
      throw new QuireError(
        'forbidden',
        `starting an agent run needs the editor role; you are ${caller.role}`,
        'access.role',
      );
    if (!caller.kernelId)
      throw new QuireError(
        'validation',
        'the caller headers lack the notebook kernel id',
        'agent.invalid_request',
      );
    // A dry run shows the person what a cell does in a fork before they decide; in auto mode nobody decides.
    if (req.dryRun && req.mode === 'auto')
      throw new QuireError(
        'validation',
        'a dry run needs review mode: each cell runs in a fork of the kernel, and runs live once the person accepts it',
        'agent.dry_run_needs_review',
      );
    const budget = AgentBudgetDto.safeParse({ ...DEFAULT_AGENT_BUDGET, ...req.budget });
    if (!budget.success)
      throw new QuireError(
        'validation',
        budget.error.issues.map((i) => `budget.${i.path.join('.')}: ${i.message}`).join('; '),
        'agent.invalid_request',
      );
    const runId = uuidv7();
    // The org's provider (src/settings/), else the deployment default; a key that does not decrypt ends the run at
    // its first LLM call with llm_error and the reason.
    const orgLlm = await this.rt.settings.providerFor(caller.orgId).catch(() => null);
    const provider = orgLlm
      ? { kind: orgLlm.kind, model: orgLlm.model }
      : { kind: this.rt.cfg.QUIRE_AGENT_LLM_KIND, model: this.rt.cfg.QUIRE_AGENT_LLM_MODEL };
    const input: AgentRunInput = {
      runId,
      notebookId: req.notebookId,
      orgId: caller.orgId,
      kernelId: caller.kernelId,
      userId: caller.userId,
      userName: caller.userName,
      goal: req.goal,
      mode: req.mode ?? 'review',
      budget: budget.data,
      provider,
      ...(req.dryRun ? { dryRun: true } : {}),
    };
    await this.rt.store.createRun({ ...input, dryRun: input.dryRun === true });
    try {
      await this.rt.client.workflow.start(AGENT_RUN_WORKFLOW, {
        taskQueue: this.rt.taskQueue,
        workflowId: agentRunWorkflowId(runId),
        args: [input],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError))
        throw new QuireError(
          'unavailable',
          'the run could not be started; try again',
          'agent.unavailable',
          err,
        );
    }
    return (await this.rt.store.get(runId))!.run;
  }

  async list(caller: AgentCaller, notebookId: string): Promise<AgentRunDto[]> {
    const runs = await this.rt.store.list(notebookId);
    return runs.filter((r) => this.visible(caller, r)).map((r) => r.run);
  }

  /** The run as stored, with the live status and changes of a running workflow. */
  async get(caller: AgentCaller, runId: string): Promise<AgentRunDto> {
    const stored = await this.rt.store.get(runId);
    if (!stored || !this.visible(caller, stored)) throw notFound();
    const run = stored.run;
    if (run.finishedAt) return run;
    try {
      const live = await this.rt.client.workflow
        .getHandle(agentRunWorkflowId(runId))
        .query<AgentRunLiveState>(AGENT_QUERIES.state);
      return {
        ...run,
        status: live.status,
        changes: live.changes,
        usage: {
          steps: live.usage.steps,
          promptTokens: live.usage.promptTokens,
          completionTokens: live.usage.completionTokens,
          cost: microsToDecimal(live.usage.costMicros),
          wallMs: live.usage.wallMs,
        },
      };
    } catch {
      // No worker answering right now (restart): the stored state is a moment older, still true.
      return run;
    }
  }

  async stop(caller: AgentCaller, runId: string): Promise<AgentRunDto> {
    const run = await this.get(caller, runId);
    if (!run.finishedAt) await this.signal(runId, AGENT_SIGNALS.stop);
    return this.get(caller, runId);
  }

  async review(caller: AgentCaller, runId: string, req: AgentReviewRequest): Promise<AgentRunDto> {
    const run = await this.get(caller, runId);
    if (run.finishedAt)
      throw new QuireError('conflict', 'the run has ended; nothing is pending', 'agent.run_finished');
    const pending = new Set(run.changes.filter((c) => c.status === 'pending').map((c) => c.changeId));
    const unknown = (req.changeIds ?? []).filter((id) => !pending.has(id));
    if (unknown.length)
      throw new QuireError(
        'conflict',
        `not pending: ${unknown.slice(0, 5).join(', ')}`,
        'agent.change_not_pending',
      );
    await this.signal(runId, AGENT_SIGNALS.review, req);
    return this.get(caller, runId);
  }

  /** Reverts everything the run changed in the document (it must have ended). */
  async undo(caller: AgentCaller, runId: string): Promise<AgentRunDto> {
    const run = await this.get(caller, runId);
    if (!run.finishedAt)
      throw new QuireError('conflict', 'stop the run before undoing it', 'agent.run_active');
    if (run.undone) return run;
    const preRun = await this.rt.store.preRunState(runId);
    if (!preRun) throw new QuireError('conflict', 'this run changed nothing', 'agent.nothing_to_undo');
    const touched = new Set<string>([
      ...run.changes.filter((c) => c.status !== 'rejected' && c.status !== 'pending').map((c) => c.cellId),
      ...run.steps.map((s) => s.cellId).filter((id): id is string => !!id),
    ]);
    await this.rt.docs.use(run.notebookId, caller.orgId, (live) => undoRun(live.doc, preRun, touched));
    await this.rt.store.markUndone(runId);
    return this.get(caller, runId);
  }

  /** The caller's org owns the run, and it is the notebook the public route named (when the gateway says). */
  private visible(caller: AgentCaller, stored: StoredRun): boolean {
    return (
      stored.orgId === caller.orgId &&
      (caller.notebookId === null || caller.notebookId === stored.run.notebookId)
    );
  }

  private async signal(runId: string, name: string, arg?: unknown): Promise<void> {
    try {
      const handle = this.rt.client.workflow.getHandle(agentRunWorkflowId(runId));
      await (arg === undefined ? handle.signal(name) : handle.signal(name, arg));
    } catch (err) {
      throw new QuireError(
        'unavailable',
        'the run could not be reached; try again',
        'agent.unavailable',
        err,
      );
    }
  }
}
