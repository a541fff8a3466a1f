import type { AgentBudgetDto, AgentFinishReason, AgentRunStatus } from '@quire/contracts';
import type { RunUsage } from './agent-run.types';

/**
 * The agent loop's rules as pure functions (workflow code uses them; unit
 * tests pin them): budgets, repeat detection, money in integer millionths.
 */

const DECIMAL = /^(\d{1,9})(?:\.(\d{1,6}))?$/;

/** "0.50" → 500000 millionths. */
export function decimalToMicros(value: string): number {
  const m = DECIMAL.exec(value);
  if (!m) throw new Error(`not a decimal amount with at most 6 decimals: ${JSON.stringify(value)}`);
  return Number(m[1]) * 1_000_000 + Number((m[2] ?? '').padEnd(6, '0'));
}

/** 500000 → "0.500000". */
export function microsToDecimal(micros: number): string {
  if (!Number.isSafeInteger(micros) || micros < 0) throw new Error(`bad amount in millionths: ${micros}`);
  const whole = Math.floor(micros / 1_000_000);
  const frac = String(micros % 1_000_000).padStart(6, '0');
  return `${whole}.${frac}`;
}

/** The budget that is spent, if any (checked before each LLM call). */
export function spentBudget(usage: RunUsage, budget: AgentBudgetDto): AgentFinishReason | null {
  if (usage.steps >= budget.maxSteps) return 'max_steps';
  if (usage.promptTokens + usage.completionTokens >= budget.maxTokens) return 'max_tokens';
  if (usage.costMicros >= decimalToMicros(budget.maxCost)) return 'max_cost';
  if (usage.wallMs >= budget.maxWallMs) return 'max_wall_time';
  return null;
}

export const FINISH_STATUS: Record<AgentFinishReason, AgentRunStatus> = {
  finished: 'succeeded',
  stopped_by_user: 'stopped',
  max_steps: 'budget_exhausted',
  max_tokens: 'budget_exhausted',
  max_cost: 'budget_exhausted',
  max_wall_time: 'budget_exhausted',
  repeated_failure: 'failed',
  llm_error: 'failed',
  kernel_error: 'failed',
};

/** How many times the same failing code, or the same error, ends a run. */
export const REPEAT_LIMIT = 3;

/** The whitespace-insensitive shape of code: re-indented or re-spaced code is the same code. */
export function normaliseCode(code: string): string {
  return code
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l.length > 0)
    .join('\n');
}

/**
 * Counts failures by the code that failed and by the error it raised; the
 * third sighting of either ends the run (`repeated_failure`). State is plain
 * data so the workflow can carry it.
 */
export class RepeatDetector {
  private readonly byCode = new Map<string, number>();
  private readonly byError = new Map<string, number>();

  /** Records one failed cell; returns what repeated, or null. */
  recordFailure(code: string, error: string): string | null {
    const c = normaliseCode(code);
    const codeSeen = (this.byCode.get(c) ?? 0) + 1;
    this.byCode.set(c, codeSeen);
    const errSeen = (this.byError.get(error) ?? 0) + 1;
    this.byError.set(error, errSeen);
    if (codeSeen >= REPEAT_LIMIT) return `the same code failed ${codeSeen} times`;
    if (errSeen >= REPEAT_LIMIT) return `the same error came ${errSeen} times: ${error}`;
    return null;
  }
}
