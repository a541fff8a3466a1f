import {
  LlmError,
  type LlmMessage,
  type LlmProvider,
  type LlmRequest,
  type LlmResponse,
  type LlmToolCall,
} from './llm-provider';
import { badResponse, postJson, readText, sample, type LlmHttpTarget } from './llm-http';

/**
 * Anthropic Messages API. `baseUrl` is the API root ("https://api.anthropic.com"
 * or ".../v1"). Does not stream: onToken receives the whole text once.
 */
export interface AnthropicProviderOptions {
  baseUrl: string;
  apiKey: string | null;
  /** Whole-request limit in ms; default 120 000. 0: none. */
  timeoutMs?: number;
}

export const ANTHROPIC_VERSION = '2023-06-01';

type WireBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: string };

interface WireMessage {
  role: 'user' | 'assistant';
  content: WireBlock[];
}

export class AnthropicProvider implements LlmProvider {
  readonly kind = 'anthropic' as const;
  private readonly url: string;

  constructor(private readonly options: AnthropicProviderOptions) {
    const root = options.baseUrl.replace(/\/+$/, '');
    this.url = root.endsWith('/v1') ? `${root}/messages` : `${root}/v1/messages`;
  }

  async complete(req: LlmRequest): Promise<LlmResponse> {
    const target: LlmHttpTarget = {
      provider: this.kind,
      url: this.url,
      headers: {
        'anthropic-version': ANTHROPIC_VERSION,
        ...(this.options.apiKey ? { 'x-api-key': this.options.apiKey } : {}),
      },
      apiKey: this.options.apiKey,
      timeoutMs: this.options.timeoutMs ?? 120_000,
    };
    const system = req.messages
      .filter((m): m is Extract<LlmMessage, { role: 'system' }> => m.role === 'system')
      .map((m) => m.content)
      .join('\n\n');
    const body: Record<string, unknown> = {
      model: req.model,
      max_tokens: req.maxTokens,
      messages: toWireMessages(req.messages),
    };
    if (system) body.system = system;
    if (req.tools.length > 0) {
      body.tools = req.tools.map((t) => ({
        name: t.name,
        description: t.description,
        input_schema: t.parameters,
      }));
    }
    if (req.temperature !== undefined) body.temperature = req.temperature;

    const call = await postJson(target, body, req.signal);
    const response = this.parse(await readText(call), req.model);
    if (req.onToken && response.content) req.onToken(response.content);
    return response;
  }

  private bad(what: string): LlmError {
    return badResponse(this.kind, what, this.options.apiKey);
  }

  private parse(text: string, requestedModel: string): LlmResponse {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw this.bad(`body is not JSON: ${sample(text)}`);
    }
    if (!doc || typeof doc !== 'object') throw this.bad(`body is not a JSON object: ${sample(text)}`);
    const record = doc as Record<string, unknown>;
    if (record.type === 'error' || record.error)
      throw this.bad(`2xx answer carries an error: ${sample(JSON.stringify(record.error))}`);
    if (!Array.isArray(record.content)) throw this.bad('answer has no content array');
    let content = '';
    const toolCalls: LlmToolCall[] = [];
    for (const [index, block] of (record.content as Array<Record<string, unknown>>).entries()) {
      if (!block || typeof block !== 'object') throw this.bad(`content block #${index} is not an object`);
      if (block.type === 'text') {
        if (typeof block.text !== 'string') throw this.bad(`text block #${index} has no text`);
        content += block.text;
      } else if (block.type === 'tool_use') {
        if (typeof block.name !== 'string' || !block.name)
          throw this.bad(`tool_use block #${index} has no name`);
        if (typeof block.id !== 'string' || !block.id)
          throw this.bad(`tool_use block #${index} (${block.name}) has no id`);
        const input = block.input;
        if (!input || typeof input !== 'object' || Array.isArray(input)) {
          throw this.bad(`tool_use block #${index} (${block.name}): input is not a JSON object`);
        }
        toolCalls.push({ id: block.id, name: block.name, arguments: input as Record<string, unknown> });
      }
      // "thinking" and future block types are not part of the reply text.
    }
    const usage = (record.usage ?? {}) as Record<string, unknown>;
    return {
      content,
      toolCalls,
      usage: {
        promptTokens: tokenCount(usage.input_tokens),
        completionTokens: tokenCount(usage.output_tokens),
      },
      finishReason: normaliseStop(record.stop_reason, toolCalls.length > 0),
      model: typeof record.model === 'string' && record.model ? record.model : requestedModel,
    };
  }
}

/** System messages go to `system`; tool results become user tool_result blocks; same-role neighbours merge (the API wants alternation). */
export function toWireMessages(messages: LlmMessage[]): WireMessage[] {
  const out: WireMessage[] = [];
  const push = (role: WireMessage['role'], blocks: WireBlock[]): void => {
    if (blocks.length === 0) return;
    const last = out[out.length - 1];
    if (last && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        break;
      case 'user':
        push('user', [{ type: 'text', text: message.content }]);
        break;
      case 'assistant': {
        const blocks: WireBlock[] = [];
        if (message.content) blocks.push({ type: 'text', text: message.content });
        for (const c of message.toolCalls ?? [])
          blocks.push({ type: 'tool_use', id: c.id, name: c.name, input: c.arguments });
        push('assistant', blocks.length > 0 ? blocks : [{ type: 'text', text: '' }]);
        break;
      }
      case 'tool':
        push('user', [{ type: 'tool_result', tool_use_id: message.toolCallId, content: message.content }]);
        break;
    }
  }
  return out;
}

function tokenCount(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0;
}

function normaliseStop(reason: unknown, hasToolCalls: boolean): LlmResponse['finishReason'] {
  if (reason === 'tool_use' || hasToolCalls) return 'tool_calls';
  if (reason === 'end_turn' || reason === 'stop_sequence' || reason === null || reason === undefined)
    return 'stop';
  if (reason === 'max_tokens') return 'length';
  return 'other';
}
