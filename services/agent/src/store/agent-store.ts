import {
  AgentRunFinished,
  AgentRunStarted,
  AgentStep,
  createEvent,
  type AgentBudgetDto,
  type AgentChangeDto,
  type AgentFinishReason,
  type AgentRunDto,
  type AgentRunMode,
  type AgentRunStatus,
  type AgentStepDto,
  type EventData,
  type EventDefinition,
  type EventEnvelope,
} from '@quire/contracts';
import { encodeEvent } from '@quire/contracts/kafka';
import type { Producer } from 'kafkajs';
import type { Pool, PoolClient } from 'pg';
import type { RunUsage } from '../workflows/agent-run.types';
import { microsToDecimal } from '../workflows/loop-rules';

/**
 * The agent's PostgreSQL schema (migrations/): runs, steps, and the outbox
 * that carries agent.v1. Every write is idempotent (activities retry), and an
 * event is written in the same transaction as the row it reports, once.
 */
export interface NewRun {
  runId: string;
  notebookId: string;
  orgId: string;
  kernelId: string;
  userId: string;
  userName: string;
  goal: string;
  mode: AgentRunMode;
  dryRun: boolean;
  provider: { kind: string; model: string };
  budget: AgentBudgetDto;
}

/** A run and the org it belongs to (not part of the DTO). */
export interface StoredRun {
  run: AgentRunDto;
  orgId: string;
}

interface RunRow {
  run_id: string;
  notebook_id: string;
  org_id: string;
  kernel_id: string;
  user_id: string;
  user_name: string;
  goal: string;
  mode: AgentRunMode;
  dry_run: boolean;
  status: AgentRunStatus;
  finish_reason: AgentFinishReason | null;
  summary: string | null;
  provider: { kind: string; model: string };
  budget: AgentBudgetDto;
  usage: RunUsage;
  changes: AgentChangeDto[];
  undone: boolean;
  started_at: Date;
  finished_at: Date | null;
}

interface StepRow {
  step: number;
  summary: string;
  tool: string | null;
  cell_id: string | null;
  code: string | null;
  output_summary: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cost: string;
  exec_ms: number;
  dry_run: boolean;
  at: Date;
}

const EMPTY_USAGE: RunUsage = { steps: 0, promptTokens: 0, completionTokens: 0, costMicros: 0, wallMs: 0 };
const RUN_COLUMNS =
  'run_id, notebook_id, org_id, kernel_id, user_id, user_name, goal, mode, dry_run, status, finish_reason, summary, provider, budget, usage, changes, undone, started_at, finished_at';

/** AgentRunFinished's status for a run status. */
const EVENT_STATUS: Record<AgentRunStatus, 'succeeded' | 'budget_exhausted' | 'cancelled' | 'failed'> = {
  running: 'failed',
  awaiting_review: 'failed',
  succeeded: 'succeeded',
  budget_exhausted: 'budget_exhausted',
  stopped: 'cancelled',
  failed: 'failed',
};

export class AgentStore {
  constructor(
    readonly pool: Pool,
    readonly schema: string,
    /** `agent/<instance>`: the events' source. */
    private readonly source: string,
    /** The price book's currency of LLM costs. */
    private readonly currency = 'USD',
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  }

  private t(name: 'runs' | 'steps' | 'outbox'): string {
    return `${this.schema}.${name}`;
  }

  /** Records a new run (status running); returns false when the run id exists already. */
  async createRun(r: NewRun): Promise<boolean> {
    return this.insertRun(this.pool, r);
  }

  private async insertRun(c: Pool | PoolClient, r: NewRun): Promise<boolean> {
    const { rowCount } = await c.query(
      `INSERT INTO ${this.t('runs')} (run_id, notebook_id, org_id, kernel_id, user_id, user_name, goal, mode, dry_run, status, provider, budget, usage)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running', $10, $11, $12) ON CONFLICT (run_id) DO NOTHING`,
      [
        r.runId,
        r.notebookId,
        r.orgId,
        r.kernelId,
        r.userId,
        r.userName,
        r.goal,
        r.mode,
        r.dryRun,
        JSON.stringify(r.provider),
        JSON.stringify(r.budget),
        JSON.stringify(EMPTY_USAGE),
      ],
    );
    return rowCount === 1;
  }

  /** Keeps the pre-run document state (the first call wins) and announces the run once. */
  async beginRun(r: NewRun, preRunState: Uint8Array): Promise<void> {
    await this.inTransaction(async (c) => {
      await this.insertRun(c, r);
      const { rowCount } = await c.query(
        `UPDATE ${this.t('runs')} SET pre_run_state = $2 WHERE run_id = $1 AND pre_run_state IS NULL`,
        [r.runId, Buffer.from(preRunState)],
      );
      if (rowCount !== 1) return;
      await this.addEvent(c, AgentRunStarted, r.runId, r.orgId, {
        runId: r.runId,
        notebookId: r.notebookId,
        kernelId: r.kernelId,
        userId: r.userId,
        budget: r.budget,
        mode: r.mode,
        dryRun: r.dryRun,
        provider: r.provider,
      });
    });
  }

  async recordStep(runId: string, orgId: string, s: AgentStepDto, usage: RunUsage): Promise<void> {
    await this.inTransaction(async (c) => {
      const { rowCount } = await c.query(
        `INSERT INTO ${this.t('steps')} (run_id, step, summary, tool, cell_id, code, output_summary, prompt_tokens, completion_tokens, cost, exec_ms, dry_run, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (run_id, step) DO NOTHING`,
        [
          runId,
          s.step,
          s.summary,
          s.tool,
          s.cellId,
          s.code,
          s.outputSummary,
          s.tokens.prompt,
          s.tokens.completion,
          s.cost,
          Math.round(s.execMs),
          s.dryRun,
          s.at,
        ],
      );
      await c.query(
        `UPDATE ${this.t('runs')} SET usage = $2, updated_at = clock_timestamp() WHERE run_id = $1`,
        [runId, JSON.stringify(usage)],
      );
      if (rowCount !== 1) return;
      await this.addEvent(c, AgentStep, runId, orgId, {
        runId,
        step: s.step,
        tokens: s.tokens,
        execMs: Math.round(s.execMs),
        cost: { amount: s.cost, currency: this.currency },
        ...(s.tool ? { tool: s.tool } : {}),
        dryRun: s.dryRun,
      });
    });
  }

  async saveProgress(
    runId: string,
    status: AgentRunStatus,
    changes: AgentChangeDto[],
    usage: RunUsage,
  ): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.t('runs')} SET status = $2, changes = $3, usage = $4, updated_at = clock_timestamp()
       WHERE run_id = $1 AND finished_at IS NULL`,
      [runId, status, JSON.stringify(changes), JSON.stringify(usage)],
    );
  }

  async finishRun(f: {
    runId: string;
    orgId: string;
    status: AgentRunStatus;
    reason: AgentFinishReason;
    summary: string | null;
    usage: RunUsage;
    changes: AgentChangeDto[];
  }): Promise<void> {
    await this.inTransaction(async (c) => {
      const { rowCount } = await c.query(
        `UPDATE ${this.t('runs')} SET status = $2, finish_reason = $3, summary = $4, usage = $5, changes = $6,
           finished_at = clock_timestamp(), updated_at = clock_timestamp()
         WHERE run_id = $1 AND finished_at IS NULL`,
        [f.runId, f.status, f.reason, f.summary, JSON.stringify(f.usage), JSON.stringify(f.changes)],
      );
      if (rowCount !== 1) return;
      await this.addEvent(c, AgentRunFinished, f.runId, f.orgId, {
        runId: f.runId,
        status: EVENT_STATUS[f.status],
        steps: f.usage.steps,
        cost: { amount: microsToDecimal(f.usage.costMicros), currency: this.currency },
        reason: f.reason,
        tokens: { prompt: f.usage.promptTokens, completion: f.usage.completionTokens },
      });
    });
  }

  async preRunState(runId: string): Promise<Uint8Array | null> {
    const { rows } = await this.pool.query<{ pre_run_state: Buffer | null }>(
      `SELECT pre_run_state FROM ${this.t('runs')} WHERE run_id = $1`,
      [runId],
    );
    return rows[0]?.pre_run_state ? new Uint8Array(rows[0].pre_run_state) : null;
  }

  async markUndone(runId: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.t('runs')} SET undone = true, updated_at = clock_timestamp() WHERE run_id = $1`,
      [runId],
    );
  }

  async get(runId: string): Promise<StoredRun | null> {
    const { rows } = await this.pool.query<RunRow>(
      `SELECT ${RUN_COLUMNS} FROM ${this.t('runs')} WHERE run_id = $1`,
      [runId],
    );
    if (!rows[0]) return null;
    const { rows: steps } = await this.pool.query<StepRow>(
      `SELECT * FROM ${this.t('steps')} WHERE run_id = $1 ORDER BY step`,
      [runId],
    );
    return { run: toDto(rows[0], steps), orgId: rows[0].org_id };
  }

  async list(notebookId: string, limit = 50): Promise<StoredRun[]> {
    const { rows } = await this.pool.query<RunRow>(
      `SELECT ${RUN_COLUMNS} FROM ${this.t('runs')} WHERE notebook_id = $1 ORDER BY started_at DESC LIMIT $2`,
      [notebookId, limit],
    );
    if (!rows.length) return [];
    const { rows: steps } = await this.pool.query<StepRow & { run_id: string }>(
      `SELECT * FROM ${this.t('steps')} WHERE run_id = ANY($1) ORDER BY run_id, step`,
      [rows.map((r) => r.run_id)],
    );
    return rows.map((r) => ({
      run: toDto(
        r,
        steps.filter((s) => s.run_id === r.run_id),
      ),
      orgId: r.org_id,
    }));
  }

  /** Publishes what the outbox holds; returns how many. */
  async drainOutbox(producer: Producer, topic: string, max = 500): Promise<number> {
    const { rows } = await this.pool.query<{ seq: string; data: EventEnvelope }>(
      `SELECT seq, data FROM ${this.t('outbox')} WHERE published_at IS NULL ORDER BY seq LIMIT $1`,
      [max],
    );
    if (!rows.length) return 0;
    await producer.send({ topic, acks: -1, messages: rows.map((r) => encodeEvent(r.data)) });
    await this.pool.query(
      `UPDATE ${this.t('outbox')} SET published_at = clock_timestamp() WHERE seq = ANY($1)`,
      [rows.map((r) => r.seq)],
    );
    return rows.length;
  }

  private async addEvent<D extends EventDefinition>(
    c: PoolClient,
    def: D,
    runId: string,
    orgId: string,
    data: EventData<D>,
  ): Promise<void> {
    const event = createEvent(def, { subject: runId, tenant: orgId, source: this.source, data });
    await c.query(`INSERT INTO ${this.t('outbox')} (event_id, subject, data) VALUES ($1, $2, $3)`, [
      event.id,
      event.subject,
      JSON.stringify(event),
    ]);
  }

  private async inTransaction(fn: (c: PoolClient) => Promise<void>): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await fn(c);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }
}

function toDto(r: RunRow, steps: StepRow[]): AgentRunDto {
  const usage = { ...EMPTY_USAGE, ...r.usage };
  return {
    runId: r.run_id,
    notebookId: r.notebook_id,
    kernelId: r.kernel_id,
    userId: r.user_id,
    userName: r.user_name,
    goal: r.goal,
    mode: r.mode,
    dryRun: r.dry_run,
    status: r.status,
    finishReason: r.finish_reason,
    summary: r.summary,
    provider: r.provider,
    budget: r.budget,
    usage: {
      steps: usage.steps,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      cost: microsToDecimal(usage.costMicros),
      wallMs: usage.wallMs,
    },
    steps: steps.map((s) => ({
      step: s.step,
      summary: s.summary,
      tool: s.tool,
      cellId: s.cell_id,
      code: s.code,
      outputSummary: s.output_summary,
      tokens: { prompt: s.prompt_tokens, completion: s.completion_tokens },
      cost: s.cost,
      execMs: s.exec_ms,
      dryRun: s.dry_run,
      at: s.at.toISOString(),
    })),
    changes: r.changes,
    undone: r.undone,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at?.toISOString() ?? null,
  };
}
