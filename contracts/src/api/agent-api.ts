import { z } from 'zod';

/**
 * Agent mode (services/agent): the API the editor uses through the gateway,
 * and the agent service's own internal API behind it.
 *
 * Public (gateway route table; editors and owners may start, stop, accept,
 * reject and undo; viewers and runners may list and watch):
 *   POST /api/notebooks/:notebookId/agent-runs                    StartAgentRunRequest → AgentRunDto (201)
 *   GET  /api/notebooks/:notebookId/agent-runs                    → { runs: AgentRunDto[] } (newest first)
 *   GET  /api/notebooks/:notebookId/agent-runs/:runId             → AgentRunDto
 *   GET  /api/notebooks/:notebookId/agent-runs/:runId/events      → text/event-stream of AgentRunStreamEvent
 *   POST /api/notebooks/:notebookId/agent-runs/:runId/stop        → AgentRunDto (stop takes effect within 1 s)
 *   POST /api/notebooks/:notebookId/agent-runs/:runId/review      AgentReviewRequest → AgentRunDto
 *   POST /api/notebooks/:notebookId/agent-runs/:runId/undo        → AgentRunDto (reverts everything the run changed)
 *
 * The gateway forwards these (after its RBAC) to the agent service at
 * QUIRE_AGENT_URL under `/internal/agent-runs…` with the caller as
 * AgentCaller headers; the agent service trusts only callers holding the
 * internal service token (QUIRE_INTERNAL_TOKEN).
 *
 * How the agent reaches the notebook (no other service's internals):
 *  - the document: a y-websocket client on doc-sync with a doc token of role
 *    `service` (sub `service:agent`), writing cells with AgentCellProvenance in
 *    their metadata;
 *  - the execute path: the gateway's kernel channel
 *    (contracts/src/api/kernel-channel.ts) with an agent token
 *    (TOKEN_AUDIENCES.agent, AgentTokenClaims): its runs queue with people's
 *    in the same fair queue, show as "Agent (for Alice)", get the agent tier's
 *    per-cell cap, and are origin `agent` on exec.v1.
 */

export type AgentRunMode = 'review' | 'auto';

export const AgentBudgetDto = z.object({
  maxSteps: z.number().int().min(1).max(200),
  maxTokens: z.number().int().min(100).max(5_000_000),
  /** Decimal string in the price book's currency, e.g. "0.50". */
  maxCost: z.string().regex(/^\d{1,6}(\.\d{1,6})?$/),
  maxWallMs: z
    .number()
    .int()
    .min(1_000)
    .max(6 * 3600_000),
});
export type AgentBudgetDto = z.infer<typeof AgentBudgetDto>;

export const DEFAULT_AGENT_BUDGET: AgentBudgetDto = {
  maxSteps: 20,
  maxTokens: 200_000,
  maxCost: '1.00',
  maxWallMs: 15 * 60_000,
};

export const StartAgentRunRequest = z.object({
  goal: z.string().trim().min(1).max(10_000),
  mode: z.enum(['review', 'auto']).default('review'),
  /** Run each step first in a kernel forked from a fresh snapshot of the live one. */
  dryRun: z.boolean().default(false),
  budget: AgentBudgetDto.partial().optional(),
});
export type StartAgentRunRequest = z.input<typeof StartAgentRunRequest>;

export const AgentReviewRequest = z.object({
  decision: z.enum(['accept', 'reject']),
  /** Pending changes to decide on; omitted = all pending changes of the run. */
  changeIds: z.array(z.string().max(128)).max(1000).optional(),
});
export type AgentReviewRequest = z.infer<typeof AgentReviewRequest>;

export type AgentRunStatus =
  'running' | 'awaiting_review' | 'succeeded' | 'stopped' | 'budget_exhausted' | 'failed';

/** Why a run ended (AgentRunFinished `reason`). */
export type AgentFinishReason =
  | 'finished'
  | 'stopped_by_user'
  | 'max_steps'
  | 'max_tokens'
  | 'max_cost'
  | 'max_wall_time'
  | 'repeated_failure'
  | 'llm_error'
  | 'kernel_error';

export interface AgentChangeDto {
  changeId: string;
  kind: 'insert_cell' | 'edit_cell' | 'delete_cell' | 'run_cell';
  cellId: string;
  /** The code the change proposes (insert/edit) or runs. */
  source: string | null;
  status: 'pending' | 'accepted' | 'rejected' | 'applied';
  /** Dry run: what the cell did in a fork of the kernel before the person decides (added compatibly). */
  dryRun?: AgentDryRunDto;
}

export interface AgentDryRunDto {
  forkKernelId: string;
  status: 'ok' | 'error' | 'interrupted' | 'aborted' | 'kernel_died' | 'timeout';
  ms: number;
  /** The fork's outputs, shortened as the model sees them. */
  output: string;
}

export interface AgentStepDto {
  step: number;
  /** What the model said or the tool it called, in one line. */
  summary: string;
  tool: string | null;
  cellId: string | null;
  code: string | null;
  /** The truncated output the model was shown. */
  outputSummary: string | null;
  tokens: { prompt: number; completion: number };
  cost: string;
  execMs: number;
  /** Ran in a forked kernel (dry run), not the live one. */
  dryRun: boolean;
  at: string;
}

export interface AgentRunDto {
  runId: string;
  notebookId: string;
  kernelId: string;
  userId: string;
  userName: string;
  goal: string;
  mode: AgentRunMode;
  dryRun: boolean;
  status: AgentRunStatus;
  finishReason: AgentFinishReason | null;
  /** The model's closing summary (finish tool) or the error, for people. */
  summary: string | null;
  provider: { kind: string; model: string };
  budget: AgentBudgetDto;
  usage: { steps: number; promptTokens: number; completionTokens: number; cost: string; wallMs: number };
  steps: AgentStepDto[];
  changes: AgentChangeDto[];
  undone: boolean;
  startedAt: string;
  finishedAt: string | null;
}

/** One Server-Sent Event on a run's stream: `event: <type>`, `data: <json>`. */
export type AgentRunStreamEvent =
  | { type: 'run'; run: AgentRunDto }
  | { type: 'token'; step: number; text: string }
  | { type: 'step'; step: AgentStepDto }
  | { type: 'finished'; run: AgentRunDto };

/** Who the gateway says is calling, as headers on forwarded requests (ASCII: `userName` is percent-encoded UTF-8). */
export const AGENT_CALLER_HEADERS = {
  userId: 'x-quire-user-id',
  userName: 'x-quire-user-name',
  orgId: 'x-quire-org-id',
  role: 'x-quire-notebook-role',
  kernelId: 'x-quire-kernel-id',
  /** The notebook the public route named (added compatibly): a run of another notebook is 404. */
  notebookId: 'x-quire-notebook-id',
  /** The caller's role in their org (`admin` | `member`), on the org settings routes. Added compatibly. */
  orgRole: 'x-quire-org-role',
} as const;

/**
 * The agent service's internal routes as the gateway calls them (bearer
 * QUIRE_INTERNAL_TOKEN plus AGENT_CALLER_HEADERS on every call):
 *   POST /internal/agent-runs                       InternalStartAgentRunRequest → AgentRunDto (201)
 *   GET  /internal/agent-runs?notebookId=…          → { runs: AgentRunDto[] } (newest first)
 *   GET  /internal/agent-runs/:runId                → AgentRunDto (404 agent.run_not_found)
 *   GET  /internal/agent-runs/:runId/events         → text/event-stream of AgentRunStreamEvent
 *   POST /internal/agent-runs/:runId/stop|review|undo
 * The events stream should carry a comment line (`: keep-alive`) at least
 * every 30 s while nothing happens: the gateway's upstream fetch gives up on
 * a body silent for 300 s, and proxies close idle streams sooner.
 * The gateway has already validated bodies and checked the caller's role;
 * it also checks that a run it returns belongs to the notebook in the public
 * path. Errors are problem+json with a stable `code`; the gateway passes
 * 4xx through unchanged.
 */
export const AGENT_INTERNAL_ROUTES = {
  runs: '/internal/agent-runs',
  runsOf: (notebookId: string) => `/internal/agent-runs?notebookId=${encodeURIComponent(notebookId)}`,
  run: (runId: string) => `/internal/agent-runs/${encodeURIComponent(runId)}`,
  events: (runId: string) => `/internal/agent-runs/${encodeURIComponent(runId)}/events`,
  action: (runId: string, action: 'stop' | 'review' | 'undo') =>
    `/internal/agent-runs/${encodeURIComponent(runId)}/${action}`,
  /**
   * Added compatibly: an org's LLM provider settings. GET → AgentSettingsDto; PUT PutAgentSettingsRequest
   * → AgentSettingsDto (the caller's org must be :orgId and their org role `admin`; else 403 access.not_admin).
   */
  settings: (orgId: string) => `/internal/orgs/${encodeURIComponent(orgId)}/agent-settings`,
} as const;

/**
 * An org's LLM provider for agent runs (public: GET/PUT /api/orgs/:orgId/agent-settings, org admins).
 * The API key is never returned: only whether one is set and its last 4 characters.
 */
export interface AgentSettingsDto {
  orgId: string;
  /** `org`: set by an admin; `default`: none set, runs use the deployment's provider. */
  source: 'org' | 'default';
  kind: 'openai' | 'anthropic' | 'local';
  baseUrl: string;
  model: string;
  /** Decimal price per 1M tokens, in the billing currency. */
  pricePerMTokens: { prompt: string; completion: string };
  hasKey: boolean;
  keyLast4: string | null;
  updatedBy: string | null;
  updatedAt: string | null;
}

const pricePerM = z.string().regex(/^\d{1,6}(\.\d{1,6})?$/, 'a decimal price per 1M tokens like 2.5');

/** PUT body. `apiKey`: a new key; null removes it; absent keeps the stored one. */
export const PutAgentSettingsRequest = z
  .object({
    kind: z.enum(['openai', 'anthropic', 'local']),
    baseUrl: z.url({ protocol: /^https?$/ }).max(2000),
    model: z.string().min(1).max(200),
    pricePerMTokens: z
      .object({ prompt: pricePerM, completion: pricePerM })
      .default({ prompt: '0', completion: '0' }),
    apiKey: z.string().min(1).max(4000).nullable().optional(),
  })
  .strict();
export type PutAgentSettingsRequest = z.input<typeof PutAgentSettingsRequest>;

/** What the gateway posts to start a run: the public request, validated, plus the notebook. */
export const InternalStartAgentRunRequest = StartAgentRunRequest.extend({
  notebookId: z.string().min(1).max(128),
});
export type InternalStartAgentRunRequest = z.infer<typeof InternalStartAgentRunRequest>;

/** In a cell's metadata (`quire.agent`): which run wrote it, for whom, and whether it is still pending review. */
export interface AgentCellProvenance {
  runId: string;
  onBehalfOf: { userId: string; name: string };
  step: number;
  state: 'pending' | 'accepted' | 'applied';
}
export const AGENT_CELL_METADATA_KEY = 'quire.agent';

/** The name collaborators see for an agent's runs on the kernel channel. */
export const agentDisplayName = (onBehalfOfName: string): string => `Agent (for ${onBehalfOfName})`;

/**
 * The agent's dry run: the gateway's kernel-fork routes, for an **agent
 * token** of that notebook only (its run names the fork, so a run reaches
 * only its own forks). A fork is a copy of the notebook's live kernel
 * (host-worker-api.ts `ForkKernelResponse`); cells run there go through no
 * queue and change nothing live. Added compatibly.
 *
 *   POST   …/kernel/forks                    CreateKernelForkRequest → ForkKernelResponse (201; a retry returns the same fork)
 *   POST   …/kernel/forks/:forkId/execute    ForkExecuteRequest → NDJSON of host-worker ExecuteStreamLine
 *   DELETE …/kernel/forks/:forkId            → 204 (also when already gone)
 */
export const AGENT_KERNEL_FORK_ROUTES = {
  forks: (notebookId: string) => `/api/notebooks/${encodeURIComponent(notebookId)}/kernel/forks`,
  execute: (notebookId: string, forkId: string) =>
    `/api/notebooks/${encodeURIComponent(notebookId)}/kernel/forks/${encodeURIComponent(forkId)}/execute`,
  fork: (notebookId: string, forkId: string) =>
    `/api/notebooks/${encodeURIComponent(notebookId)}/kernel/forks/${encodeURIComponent(forkId)}`,
} as const;

export const CreateKernelForkRequest = z.object({
  /** Names the fork within the run (e.g. `step-3`); the fork's kernel id is `fork.<runId>.<label>`. */
  label: z.string().regex(/^[A-Za-z0-9-]{1,40}$/, 'letters, digits and dashes, at most 40'),
});
export type CreateKernelForkRequest = z.infer<typeof CreateKernelForkRequest>;

export const ForkExecuteRequest = z.object({ code: z.string().max(1024 * 1024) });
export type ForkExecuteRequest = z.infer<typeof ForkExecuteRequest>;
