import type { LlmToolCall } from './llm-provider';

/**
 * Parses a tool call's arguments. OpenAI sends a JSON string; Ollama and some
 * llama.cpp builds send the object itself; a few servers send "" for a tool
 * without parameters. Returns an error text for anything that is not a JSON object.
 */
export function parseToolArguments(
  raw: unknown,
): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  if (raw === undefined || raw === null) return { ok: true, value: {} };
  if (typeof raw === 'object' && !Array.isArray(raw))
    return { ok: true, value: raw as Record<string, unknown> };
  if (typeof raw !== 'string')
    return {
      ok: false,
      error: `arguments are a ${Array.isArray(raw) ? 'array' : typeof raw}, not a JSON object`,
    };
  if (raw.trim() === '') return { ok: true, value: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return { ok: false, error: `arguments are not valid JSON (${(err as Error).message})` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, error: 'arguments are valid JSON but not an object' };
  }
  return { ok: true, value: parsed as Record<string, unknown> };
}

export function describeCall(call: Pick<LlmToolCall, 'name'>, index: number): string {
  return `tool call #${index} (${call.name || 'unnamed'})`;
}
