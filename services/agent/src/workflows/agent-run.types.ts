import type {
  AgentBudgetDto,
  AgentCellProvenance,
  AgentChangeDto,
  AgentFinishReason,
  AgentReviewRequest,
  AgentRunMode,
  AgentRunStatus,
  AgentStepDto,
} from '@quire/contracts';
import type { LlmMessage, LlmToolCall, LlmToolSpec } from '../llm/llm-provider';

/**
 * The contract between the agent-run workflow and whoever starts it, signals
 * it, or implements its activities. Types only (plus names): workflow code
 * imports it, so nothing here may touch Node.
 */
export const AGENT_TASK_QUEUE = 'quire-agent';
export const AGENT_RUN_WORKFLOW = 'agentRun';
export const agentRunWorkflowId = (runId: string): string => `agent-run:${runId}`;

export const AGENT_SIGNALS = { stop: 'stop', review: 'review' } as const;
export const AGENT_QUERIES = { state: 'state' } as const;

export interface AgentRunInput {
  runId: string;
  notebookId: string;
  orgId: string;
  kernelId: string;
  userId: string;
  userName: string;
  goal: string;
  mode: AgentRunMode;
  budget: AgentBudgetDto;
  provider: { kind: string; model: string };
  /** Completion-token cap of one LLM call (default 1024, never above what the token budget has left). */
  maxTokensPerCall?: number;
  /** All tool results of one step together (default DEFAULT_TRUNCATION_RULES.perStepChars). */
  perStepChars?: number;
  /** Pending changes left undecided this long after the model stopped are rejected (default 24 h). */
  reviewTimeoutMs?: number;
  /** Review mode only: each pending cell runs first in a fork of the kernel (its output shown with the change). */
  dryRun?: boolean;
}

/** Money is carried as integer millionths of the price book's currency (no floats in sums). */
export interface RunUsage {
  steps: number;
  promptTokens: number;
  completionTokens: number;
  costMicros: number;
  /** Time the agent worked, without the time it waited for the person's review. */
  wallMs: number;
}

export interface RunRef {
  runId: string;
  notebookId: string;
  orgId: string;
}

export interface CallLlmInput {
  runId: string;
  step: number;
  messages: LlmMessage[];
  tools: LlmToolSpec[];
  maxTokens: number;
}

export interface CallLlmResult {
  content: string;
  toolCalls: LlmToolCall[];
  promptTokens: number;
  completionTokens: number;
  costMicros: number;
  finishReason: 'stop' | 'tool_calls' | 'length' | 'other';
}

export interface InsertCellInput extends RunRef {
  cellId: string;
  source: string;
  /** Insert after this cell; null = at the end. */
  afterCellId: string | null;
  provenance: AgentCellProvenance;
}

export interface EditCellInput extends RunRef {
  cellId: string;
  source: string;
  provenance: AgentCellProvenance;
}

export interface CellInput extends RunRef {
  cellId: string;
}

export interface SetProvenanceInput extends CellInput {
  provenance: AgentCellProvenance;
}

export interface RunCellInput extends RunRef {
  kernelId: string;
  userId: string;
  userName: string;
  cellId: string;
  /** Unique per run of this cell in this run: a retried activity finds its own execution instead of running twice. */
  runKey: string;
}

export type CellRunStatus = 'ok' | 'error' | 'interrupted' | 'aborted' | 'kernel_died' | 'timeout';

export interface CellRunResult {
  executionId: string | null;
  status: CellRunStatus;
  ms: number;
  executionCount: number | null;
  /** The outputs as the model is shown them (truncation rules applied). */
  shown: string;
  error: { ename: string; evalue: string } | null;
}

export interface InspectVariablesInput extends RunRef {
  kernelId: string;
  userId: string;
  userName: string;
  names: string[] | null;
  runKey: string;
}

/** A cell's code run in a fork of the live kernel (the dry run); the fork stays until discardFork. */
export interface DryRunCellInput extends RunRef {
  userId: string;
  userName: string;
  /** Names the fork within the run (letters, digits, dashes); each attempt of the activity forks afresh. */
  label: string;
  source: string;
}

export interface DryRunResult {
  forkKernelId: string;
  status: CellRunStatus;
  ms: number;
  /** The fork's outputs as the model and the person are shown them. */
  shown: string;
  error: { ename: string; evalue: string } | null;
  /** How long the live kernel was paused for the snapshot. */
  parentPauseMs: number;
}

export interface DiscardForkInput extends RunRef {
  userId: string;
  userName: string;
  label: string;
}

export interface RecordStepInput {
  runId: string;
  orgId: string;
  step: AgentStepDto;
  usage: RunUsage;
}

export interface SaveProgressInput {
  runId: string;
  status: AgentRunStatus;
  changes: AgentChangeDto[];
  usage: RunUsage;
}

export interface FinishRunInput {
  runId: string;
  orgId: string;
  status: AgentRunStatus;
  reason: AgentFinishReason;
  summary: string | null;
  usage: RunUsage;
  changes: AgentChangeDto[];
}

/** The activities the workflow schedules (implemented in ../activities). Each is idempotent. */
export interface AgentActivities {
  /** Records the run (row, pre-run document state, AgentRunStarted) and returns the notebook as the model sees it. */
  beginRun(input: AgentRunInput): Promise<{ notebook: string }>;
  callLlm(input: CallLlmInput): Promise<CallLlmResult>;
  readNotebook(ref: RunRef): Promise<string>;
  /** The cell's source now, or null when there is no such cell. */
  cellSource(input: CellInput): Promise<string | null>;
  insertCell(input: InsertCellInput): Promise<void>;
  editCell(input: EditCellInput): Promise<void>;
  deleteCell(input: CellInput): Promise<void>;
  setProvenance(input: SetProvenanceInput): Promise<void>;
  runCell(input: RunCellInput): Promise<CellRunResult>;
  /** Interrupts the run's cell if it is running, cancels it if still queued. */
  interruptCell(input: RunCellInput): Promise<void>;
  inspectVariables(input: InspectVariablesInput): Promise<string>;
  /** Forks the live kernel and runs the code there (dry run); the live kernel's variables are untouched. */
  dryRunCell(input: DryRunCellInput): Promise<DryRunResult>;
  /** Discards the forks of `label` (every attempt); done when they are gone already. */
  discardFork(input: DiscardForkInput): Promise<void>;
  recordStep(input: RecordStepInput): Promise<void>;
  saveProgress(input: SaveProgressInput): Promise<void>;
  finishRun(input: FinishRunInput): Promise<void>;
}

export type ReviewSignal = AgentReviewRequest;

export interface AgentRunLiveState {
  status: AgentRunStatus;
  usage: RunUsage;
  changes: AgentChangeDto[];
  stopRequested: boolean;
}

export interface AgentRunResult {
  status: AgentRunStatus;
  reason: AgentFinishReason;
  summary: string | null;
  usage: RunUsage;
  changes: AgentChangeDto[];
}
