import {
  LlmError,
  type LlmMessage,
  type LlmProvider,
  type LlmRequest,
  type LlmResponse,
  type LlmToolCall,
  type LlmUsage,
} from './llm-provider';
import { badResponse, postJson, readText, sample, type LlmHttpCall, type LlmHttpTarget } from './llm-http';
import { readSseData } from './sse';
import { describeCall, parseToolArguments } from './tool-arguments';

/**
 * OpenAI Chat Completions at any base URL (api.openai.com/v1, vLLM, Ollama's
 * /v1, llama.cpp's server, the embedded local model). `baseUrl` ends before
 * /chat/completions, e.g. "http://127.0.0.1:8097/v1".
 */
export interface OpenAiProviderOptions {
  baseUrl: string;
  apiKey: string | null;
  /** Stream with SSE (onToken gets deltas). Default true. */
  stream?: boolean;
  /** Whole-request limit in ms; default 120 000. 0: none. */
  timeoutMs?: number;
  /** 'local' for the embedded model (same wire format). */
  kind?: 'openai' | 'local';
}

interface WireToolCall {
  id?: unknown;
  type?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

interface WireUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
}

interface PartialCall {
  id: string;
  name: string;
  arguments: string;
  /** Ollama streams arguments as an object in a single delta. */
  objectArguments?: Record<string, unknown>;
}

export class OpenAiProvider implements LlmProvider {
  readonly kind: 'openai' | 'local';
  private readonly url: string;
  private readonly stream: boolean;

  constructor(private readonly options: OpenAiProviderOptions) {
    this.kind = options.kind ?? 'openai';
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.stream = options.stream ?? true;
  }

  async complete(req: LlmRequest): Promise<LlmResponse> {
    const target: LlmHttpTarget = {
      provider: this.kind,
      url: this.url,
      headers: this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {},
      apiKey: this.options.apiKey,
      timeoutMs: this.options.timeoutMs ?? 120_000,
    };
    const body: Record<string, unknown> = {
      model: req.model,
      messages: req.messages.map(toWireMessage),
      max_tokens: req.maxTokens,
      stream: this.stream,
    };
    if (req.tools.length > 0) {
      body.tools = req.tools.map((t) => ({
        type: 'function',
        function: { name: t.name, description: t.description, parameters: t.parameters },
      }));
    }
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (this.stream) body.stream_options = { include_usage: true };

    const call = await postJson(target, body, req.signal);
    const contentType = call.response.headers.get('content-type') ?? '';
    // Some servers ignore `stream: true` and answer one JSON document.
    if (this.stream && contentType.includes('text/event-stream') && call.response.body) {
      return this.readStream(call, req);
    }
    const text = await readText(call);
    const response = this.parseCompletion(text, req.model);
    if (req.onToken && response.content) req.onToken(response.content);
    return response;
  }

  private bad(what: string): LlmError {
    return badResponse(this.kind, what, this.options.apiKey);
  }

  private parseCompletion(text: string, requestedModel: string): LlmResponse {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw this.bad(`body is not JSON: ${sample(text)}`);
    }
    if (!doc || typeof doc !== 'object') throw this.bad(`body is not a JSON object: ${sample(text)}`);
    const record = doc as Record<string, unknown>;
    if (record.error) throw this.bad(`2xx answer carries an error: ${sample(JSON.stringify(record.error))}`);
    const choices = record.choices;
    if (!Array.isArray(choices) || choices.length === 0) throw this.bad('no choices in the answer');
    const choice = choices[0] as { message?: unknown; finish_reason?: unknown };
    if (!choice.message || typeof choice.message !== 'object') throw this.bad('choice has no message');
    const message = choice.message as { content?: unknown; tool_calls?: unknown };
    if (message.content !== undefined && message.content !== null && typeof message.content !== 'string') {
      throw this.bad('message content is not a string');
    }
    const wireCalls = message.tool_calls ?? [];
    if (!Array.isArray(wireCalls)) throw this.bad('tool_calls is not an array');
    const toolCalls = (wireCalls as WireToolCall[]).map((w, index) => this.toolCallFromWire(w, index));
    return {
      content: (message.content as string | null | undefined) ?? '',
      toolCalls,
      usage: usageFromWire(record.usage as WireUsage | undefined),
      finishReason: normaliseFinish(choice.finish_reason, toolCalls.length > 0),
      model: typeof record.model === 'string' && record.model ? record.model : requestedModel,
    };
  }

  private toolCallFromWire(wire: WireToolCall, index: number): LlmToolCall {
    const name = wire.function?.name;
    if (typeof name !== 'string' || name === '') throw this.bad(`tool call #${index} has no function name`);
    const args = parseToolArguments(wire.function?.arguments);
    if (!args.ok) throw this.bad(`${describeCall({ name }, index)}: ${args.error}`);
    const id = typeof wire.id === 'string' && wire.id ? wire.id : `call_${index}`;
    return { id, name, arguments: args.value };
  }

  private async readStream(call: LlmHttpCall, req: LlmRequest): Promise<LlmResponse> {
    let content = '';
    let model = req.model;
    let finish: unknown;
    let usage: LlmUsage = { promptTokens: 0, completionTokens: 0 };
    let sawDone = false;
    const partials: PartialCall[] = [];
    try {
      for await (const data of readSseData(call.response.body as ReadableStream<Uint8Array>)) {
        if (data.trim() === '[DONE]') {
          sawDone = true;
          break;
        }
        let chunk: Record<string, unknown>;
        try {
          chunk = JSON.parse(data) as Record<string, unknown>;
        } catch {
          throw this.bad(`stream event is not JSON: ${sample(data)}`);
        }
        if (!chunk || typeof chunk !== 'object')
          throw this.bad(`stream event is not an object: ${sample(data)}`);
        if (chunk.error) throw this.bad(`stream carries an error: ${sample(JSON.stringify(chunk.error))}`);
        if (typeof chunk.model === 'string' && chunk.model) model = chunk.model;
        if (chunk.usage) usage = usageFromWire(chunk.usage as WireUsage);
        const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
        const choice = choices[0] as { delta?: Record<string, unknown>; finish_reason?: unknown } | undefined;
        if (!choice) continue;
        if (choice.finish_reason) finish = choice.finish_reason;
        const delta = choice.delta ?? {};
        if (typeof delta.content === 'string' && delta.content) {
          content += delta.content;
          req.onToken?.(delta.content);
        }
        if (Array.isArray(delta.tool_calls))
          this.mergeToolDeltas(partials, delta.tool_calls as Array<WireToolCall & { index?: unknown }>);
      }
    } catch (err) {
      // A server that drops the connection after the finish chunk (before usage or [DONE]) has still answered.
      const finishedBeforeDrop = finish !== undefined && !(err instanceof LlmError) && !req.signal?.aborted;
      if (!finishedBeforeDrop) throw call.failure(err);
    }
    if (!sawDone && finish === undefined) {
      throw new LlmError('unavailable', `${this.kind} stream ended before the completion finished`);
    }
    const toolCalls = partials.map((p, index) => {
      if (!p.name) throw this.bad(`tool call #${index} has no function name`);
      const args = parseToolArguments(p.objectArguments ?? p.arguments);
      if (!args.ok) throw this.bad(`${describeCall(p, index)}: ${args.error}`);
      return { id: p.id || `call_${index}`, name: p.name, arguments: args.value };
    });
    return { content, toolCalls, usage, finishReason: normaliseFinish(finish, toolCalls.length > 0), model };
  }

  private mergeToolDeltas(partials: PartialCall[], deltas: Array<WireToolCall & { index?: unknown }>): void {
    for (const [position, delta] of deltas.entries()) {
      // vLLM and OpenAI send `index`; some servers omit it and send whole calls.
      const index =
        typeof delta.index === 'number'
          ? delta.index
          : partials.length > position && delta.id === undefined
            ? position
            : partials.length;
      const partial = (partials[index] ??= { id: '', name: '', arguments: '' });
      if (typeof delta.id === 'string' && delta.id) partial.id = delta.id;
      const fn = delta.function ?? {};
      if (typeof fn.name === 'string' && fn.name) partial.name += partial.name === fn.name ? '' : fn.name;
      if (typeof fn.arguments === 'string') partial.arguments += fn.arguments;
      else if (fn.arguments && typeof fn.arguments === 'object')
        partial.objectArguments = fn.arguments as Record<string, unknown>;
    }
  }
}

function toWireMessage(message: LlmMessage): Record<string, unknown> {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content };
    case 'assistant': {
      const wire: Record<string, unknown> = { role: 'assistant', content: message.content };
      if (message.toolCalls && message.toolCalls.length > 0) {
        wire.tool_calls = message.toolCalls.map((c) => ({
          id: c.id,
          type: 'function',
          function: { name: c.name, arguments: JSON.stringify(c.arguments) },
        }));
      }
      return wire;
    }
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, name: message.name, content: message.content };
  }
}

function tokenCount(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0;
}

function usageFromWire(usage: WireUsage | undefined): LlmUsage {
  return {
    promptTokens: tokenCount(usage?.prompt_tokens),
    completionTokens: tokenCount(usage?.completion_tokens),
  };
}

/** vLLM and Ollama may say "stop" while returning tool calls; the calls win. */
function normaliseFinish(reason: unknown, hasToolCalls: boolean): LlmResponse['finishReason'] {
  if (hasToolCalls) return 'tool_calls';
  if (reason === 'stop' || reason === 'eos' || reason === undefined || reason === null) return 'stop';
  if (reason === 'length') return 'length';
  if (reason === 'tool_calls' || reason === 'function_call') return 'tool_calls';
  return 'other';
}
