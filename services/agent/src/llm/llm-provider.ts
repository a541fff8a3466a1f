/**
 * The one interface every LLM adapter implements (OpenAI Chat Completions at
 * any base URL, Anthropic Messages, the embedded local model through its
 * OpenAI-compatible endpoint). The agent loop sees only this. Each adapter
 * passes the same conformance suite (test/llm-provider.conformance.spec.ts).
 */

export interface LlmToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export interface LlmToolCall {
  /** The provider's id for the call (echoed back in the tool result). */
  id: string;
  name: string;
  /** Parsed arguments. A call whose arguments are not a JSON object is an LlmError('bad_response'). */
  arguments: Record<string, unknown>;
}

export type LlmMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; toolCalls?: LlmToolCall[] }
  | { role: 'tool'; toolCallId: string; name: string; content: string };

export interface LlmRequest {
  model: string;
  messages: LlmMessage[];
  tools: LlmToolSpec[];
  /** Upper bound on completion tokens for this call. */
  maxTokens: number;
  temperature?: number;
  /** Aborts the HTTP request (Stop). */
  signal?: AbortSignal;
  /** Streamed text deltas as they arrive (for the editor), when the adapter streams. */
  onToken?: (text: string) => void;
}

export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface LlmResponse {
  /** Assistant text (may be empty when it only calls tools). */
  content: string;
  toolCalls: LlmToolCall[];
  usage: LlmUsage;
  /** Provider's finish reason, normalised. */
  finishReason: 'stop' | 'tool_calls' | 'length' | 'other';
  model: string;
}

export type LlmErrorKind =
  /** 401/403: key missing or wrong. */
  | 'auth'
  /** 429 or the provider's overload answer: retryable. */
  | 'rate_limited'
  /** 5xx, connection refused/reset, timeout: retryable. */
  | 'unavailable'
  /** 2xx with a body that is not a valid completion (garbage, bad tool-call JSON). */
  | 'bad_response'
  /** 400: the request itself was refused (context too long, unknown model). */
  | 'rejected'
  | 'aborted';

export class LlmError extends Error {
  constructor(
    readonly kind: LlmErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'LlmError';
  }
  get retryable(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'unavailable';
  }
}

export interface LlmProvider {
  readonly kind: 'openai' | 'anthropic' | 'local';
  complete(req: LlmRequest): Promise<LlmResponse>;
}

/** How an org's admin configures its provider (key encrypted at rest; never logged). */
export interface LlmProviderConfig {
  kind: 'openai' | 'anthropic' | 'local';
  baseUrl: string;
  model: string;
  apiKey: string | null;
  /** Price per 1M tokens, decimal strings in the price book's currency. */
  pricePerMTokens: { prompt: string; completion: string };
}
