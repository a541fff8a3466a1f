import { LlmError, type LlmErrorKind } from './llm-provider';

/**
 * The HTTP layer every adapter shares: one POST with the caller's abort signal
 * (and an optional timeout), HTTP statuses and connection failures mapped to
 * LlmError kinds, and the API key scrubbed from every message we produce.
 */

export interface LlmHttpTarget {
  /** Provider name for messages ("openai", "anthropic", "local"). */
  provider: string;
  url: string;
  headers: Record<string, string>;
  /** Redacted from anything we put in an error. */
  apiKey: string | null;
  /** Whole-request limit; 0 or undefined: none. */
  timeoutMs?: number;
}

const MAX_DETAIL_CHARS = 300;

/** Replaces the key (and any bearer token) in text that may come from a provider or a URL. */
export function redact(text: string, apiKey: string | null): string {
  let out = text;
  if (apiKey && apiKey.length > 0) out = out.split(apiKey).join('***');
  return out.replace(/(Bearer\s+)[^\s"']+/gi, '$1***');
}

export function errorKindForStatus(status: number, body: unknown): LlmErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 429 || status === 529) return 'rate_limited';
  if (status === 408 || status >= 500) {
    // Anthropic reports overload as { error: { type: 'overloaded_error' } }, sometimes with a 5xx.
    return providerErrorType(body) === 'overloaded_error' ? 'rate_limited' : 'unavailable';
  }
  return 'rejected';
}

function providerErrorType(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'error' in body) {
    const error = (body as { error: unknown }).error;
    if (error && typeof error === 'object' && 'type' in error) {
      const t = (error as { type: unknown }).type;
      return typeof t === 'string' ? t : undefined;
    }
  }
  return undefined;
}

/** The provider's own error message, from the shapes OpenAI, Anthropic, vLLM, Ollama and llama.cpp use. */
export function providerErrorMessage(body: unknown, rawText: string): string {
  let message: string | undefined;
  if (body && typeof body === 'object') {
    const error = (body as Record<string, unknown>).error;
    if (typeof error === 'string') message = error;
    else if (error && typeof error === 'object') {
      const m = (error as Record<string, unknown>).message;
      if (typeof m === 'string') message = m;
    }
    const detail = (body as Record<string, unknown>).detail ?? (body as Record<string, unknown>).message;
    if (!message && typeof detail === 'string') message = detail;
  }
  const text = (message ?? rawText).trim();
  return text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text;
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function connectionCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export interface LlmHttpCall {
  response: Response;
  /** Maps a failure while reading the body (abort, reset) to an LlmError. */
  failure(err: unknown): LlmError;
}

/**
 * POSTs `body` as JSON. Resolves with a 2xx response; rejects with an LlmError
 * for every other outcome.
 */
export async function postJson(
  target: LlmHttpTarget,
  body: unknown,
  signal: AbortSignal | undefined,
): Promise<LlmHttpCall> {
  const signals: AbortSignal[] = [];
  if (signal) signals.push(signal);
  const timeout =
    target.timeoutMs && target.timeoutMs > 0 ? AbortSignal.timeout(target.timeoutMs) : undefined;
  if (timeout) signals.push(timeout);
  const combined =
    signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
  const host = safeHost(target.url);

  const failure = (err: unknown): LlmError => {
    if (err instanceof LlmError) return err;
    if (signal?.aborted) return new LlmError('aborted', `${target.provider} request aborted`);
    if (timeout?.aborted) {
      return new LlmError(
        'unavailable',
        `${target.provider} at ${host} did not answer within ${target.timeoutMs} ms`,
      );
    }
    const code = connectionCode(err);
    const reason = code ?? (err instanceof Error ? err.message : String(err));
    return new LlmError(
      'unavailable',
      redact(`cannot reach ${target.provider} at ${host}: ${reason}`, target.apiKey),
    );
  };

  if (signal?.aborted) throw new LlmError('aborted', `${target.provider} request aborted`);
  let response: Response;
  try {
    response = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...target.headers },
      body: JSON.stringify(body),
      signal: combined,
    });
  } catch (err) {
    throw failure(err);
  }
  if (response.ok) return { response, failure };

  let text = '';
  try {
    text = await response.text();
  } catch (err) {
    throw failure(err);
  }
  const parsed = parseJsonOrUndefined(text);
  const kind = errorKindForStatus(response.status, parsed);
  const detail = providerErrorMessage(parsed, text);
  throw new LlmError(
    kind,
    redact(
      `${target.provider} at ${host} answered HTTP ${response.status}${detail ? `: ${detail}` : ''}`,
      target.apiKey,
    ),
    response.status,
  );
}

/** Reads the whole body as text, mapping abort/reset to LlmError. */
export async function readText(call: LlmHttpCall): Promise<string> {
  try {
    return await call.response.text();
  } catch (err) {
    throw call.failure(err);
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid URL';
  }
}

export function badResponse(provider: string, what: string, apiKey: string | null): LlmError {
  return new LlmError('bad_response', redact(`${provider} sent an invalid completion: ${what}`, apiKey));
}

/** A short, printable sample of an unexpected body for an error message. */
export function sample(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${JSON.stringify(flat.slice(0, 120))}…` : JSON.stringify(flat);
}
