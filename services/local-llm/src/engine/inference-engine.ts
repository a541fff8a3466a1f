import type { GrammarSchema } from '../chat/tool-protocol';

/** What the HTTP layer needs from a model: token counting and one generation at a time. */
export interface GenerateRequest {
  prompt: string;
  /** Constrains the output to JSON matching this schema. */
  grammarSchema?: GrammarSchema;
  maxTokens: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  signal: AbortSignal;
  /** Text as it is generated (only without a grammar, where it is the answer itself). */
  onText?: (text: string) => void;
}

export interface GenerateResult {
  text: string;
  promptTokens: number;
  completionTokens: number;
  stopReason: 'stop' | 'length';
  /** Milliseconds spent before the first generated token (prompt evaluation), and after it. */
  promptMs: number;
  generationMs: number;
}

export interface InferenceEngine {
  readonly modelId: string;
  readonly contextSize: number;
  generate(req: GenerateRequest): Promise<GenerateResult>;
  close(): Promise<void>;
}

/** The client went away: generation stopped, nothing to answer. */
export class GenerationAbortedError extends Error {
  constructor() {
    super('the request was aborted');
  }
}

/** More prompt than the context window holds. */
export class ContextLengthError extends Error {
  constructor(
    readonly promptTokens: number,
    readonly contextSize: number,
  ) {
    super(
      `the prompt is ${promptTokens} tokens; this model's context is ${contextSize} tokens (QUIRE_LOCAL_LLM_CONTEXT)`,
    );
  }
}

/** Too many requests already waiting. */
export class QueueFullError extends Error {}
