import { AnthropicProvider } from './anthropic-provider';
import type { LlmProvider, LlmProviderConfig } from './llm-provider';
import { OpenAiProvider } from './openai-provider';

export interface CreateLlmProviderOptions {
  timeoutMs?: number;
  /** OpenAI-shaped providers only; default true. */
  stream?: boolean;
}

/** The adapter for an org's configured provider. 'local' is the embedded model's OpenAI-compatible server. */
export function createLlmProvider(
  config: LlmProviderConfig,
  options: CreateLlmProviderOptions = {},
): LlmProvider {
  switch (config.kind) {
    case 'openai':
    case 'local':
      return new OpenAiProvider({
        baseUrl: config.baseUrl,
        apiKey: config.apiKey,
        kind: config.kind,
        stream: options.stream,
        timeoutMs: options.timeoutMs,
      });
    case 'anthropic':
      return new AnthropicProvider({
        baseUrl: config.baseUrl,
        apiKey: config.apiKey,
        timeoutMs: options.timeoutMs,
      });
    default:
      throw new Error(`unknown LLM provider kind ${JSON.stringify((config as { kind: unknown }).kind)}`);
  }
}
