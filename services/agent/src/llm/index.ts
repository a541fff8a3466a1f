export * from './llm-provider';
export { OpenAiProvider, type OpenAiProviderOptions } from './openai-provider';
export { AnthropicProvider, type AnthropicProviderOptions } from './anthropic-provider';
export { createLlmProvider, type CreateLlmProviderOptions } from './create-llm-provider';
export { redact } from './llm-http';
