import type {
  AgentChangeDto,
  AgentFinishReason,
  AgentRunDto,
  AgentRunStreamEvent,
  AgentStepDto,
} from '@quire/contracts';

/**
 * What the Agent panel shows of one run, built from its event stream: the
 * run as last described, its steps in order (a `step` event adds or replaces
 * one), the text of the step the model is writing now (`token` events), and
 * whether the run has ended. Pure, so every collaborator watching the same
 * stream computes the same view.
 */
export interface AgentRunLive {
  run: AgentRunDto | null;
  steps: AgentStepDto[];
  /** The model's words so far in the step it is working on. */
  streaming: { step: number; text: string } | null;
  finished: boolean;
}

export const EMPTY_RUN: AgentRunLive = { run: null, steps: [], streaming: null, finished: false };

const ENDED: ReadonlySet<AgentRunDto['status']> = new Set([
  'succeeded',
  'stopped',
  'budget_exhausted',
  'failed',
]);

export function isRunActive(run: AgentRunDto | null): boolean {
  return !!run && !ENDED.has(run.status);
}

export function liveFromRun(run: AgentRunDto): AgentRunLive {
  return applyAgentEvent(EMPTY_RUN, { type: 'run', run });
}

export function applyAgentEvent(state: AgentRunLive, ev: AgentRunStreamEvent): AgentRunLive {
  switch (ev.type) {
    case 'run':
    case 'finished': {
      const steps = mergeSteps(state.steps, ev.run.steps);
      const finished = ev.type === 'finished' || !isRunActive(ev.run);
      const streaming =
        finished || (state.streaming && steps.some((s) => s.step >= state.streaming!.step))
          ? null
          : state.streaming;
      return { run: ev.run, steps, streaming, finished };
    }
    case 'step': {
      const steps = mergeSteps(state.steps, [ev.step]);
      const streaming = state.streaming && state.streaming.step <= ev.step.step ? null : state.streaming;
      return { ...state, steps, streaming };
    }
    case 'token': {
      if (state.finished) return state;
      const text = state.streaming?.step === ev.step ? state.streaming.text + ev.text : ev.text;
      return { ...state, streaming: { step: ev.step, text } };
    }
    default:
      return state;
  }
}

function mergeSteps(known: AgentStepDto[], incoming: AgentStepDto[]): AgentStepDto[] {
  const byStep = new Map(known.map((s) => [s.step, s]));
  for (const s of incoming) byStep.set(s.step, s);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** A run's totals; the steps seen live count too when the run's own usage is older. */
export interface AgentRunTotals {
  steps: number;
  tokens: number;
  cost: string;
  wallMs: number;
}

export function runTotals(live: AgentRunLive): AgentRunTotals {
  const fromSteps = {
    steps: live.steps.length,
    tokens: live.steps.reduce((n, s) => n + s.tokens.prompt + s.tokens.completion, 0),
    cost: live.steps.reduce((sum, s) => addDecimal(sum, s.cost), '0'),
  };
  const usage = live.run?.usage;
  if (!usage) return { ...fromSteps, wallMs: 0 };
  const runTokens = usage.promptTokens + usage.completionTokens;
  return {
    steps: Math.max(usage.steps, fromSteps.steps),
    tokens: Math.max(runTokens, fromSteps.tokens),
    cost: compareDecimal(usage.cost, fromSteps.cost) >= 0 ? normalise(usage.cost) : fromSteps.cost,
    wallMs: usage.wallMs,
  };
}

const SCALE = 6;

/** Adds two non-negative decimal strings exactly (the price book's "0.0123" form). */
export function addDecimal(a: string, b: string): string {
  return fromMicros(toMicros(a) + toMicros(b));
}

function compareDecimal(a: string, b: string): number {
  const d = toMicros(a) - toMicros(b);
  return d > 0n ? 1 : d < 0n ? -1 : 0;
}

function normalise(a: string): string {
  return fromMicros(toMicros(a));
}

function toMicros(s: string): bigint {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s.trim());
  if (!m) return 0n;
  const frac = (m[2] ?? '').slice(0, SCALE).padEnd(SCALE, '0');
  return BigInt(m[1]!) * 10n ** BigInt(SCALE) + BigInt(frac);
}

function fromMicros(n: bigint): string {
  const whole = n / 10n ** BigInt(SCALE);
  const frac = (n % 10n ** BigInt(SCALE)).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
}

export function pendingChanges(run: AgentRunDto | null): AgentChangeDto[] {
  return run?.changes.filter((c) => c.status === 'pending') ?? [];
}

const REASONS: Record<AgentFinishReason, string> = {
  finished: 'Finished',
  stopped_by_user: 'Stopped',
  max_steps: 'Stopped: step budget spent',
  max_tokens: 'Stopped: token budget spent',
  max_cost: 'Stopped: money budget spent',
  max_wall_time: 'Stopped: time budget spent',
  repeated_failure: 'Stopped: the same failure three times',
  llm_error: 'Failed: the model could not be reached',
  kernel_error: 'Failed: the kernel failed',
};

/** One line for people: where the run stands. */
export function runStatusText(live: AgentRunLive): string {
  const run = live.run;
  if (!run) return 'No run yet';
  if (run.status === 'running') {
    const n = live.streaming?.step ?? live.steps.length + 1;
    return `Running — step ${n}`;
  }
  if (run.status === 'awaiting_review') {
    const n = pendingChanges(run).length;
    return `Waiting for your review (${n} pending change${n === 1 ? '' : 's'})`;
  }
  const text = run.finishReason
    ? REASONS[run.finishReason]
    : run.status === 'succeeded'
      ? 'Finished'
      : 'Ended';
  return run.undone ? `${text} — undone` : text;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
}
