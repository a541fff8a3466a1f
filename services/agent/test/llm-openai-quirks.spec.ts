import { createLlmProvider } from '../src/llm/create-llm-provider';
import { LlmError, type LlmRequest } from '../src/llm/llm-provider';
import { OpenAiProvider } from '../src/llm/openai-provider';
import { ScriptedLlmServer } from './support/scripted-llm-server';

/**
 * What OpenAI-compatible servers other than OpenAI actually send (vLLM,
 * Ollama, llama.cpp): the adapter accepts the harmless deviations and turns
 * the broken ones into LlmError('bad_response' | 'unavailable').
 */

const request: LlmRequest = {
  model: 'm',
  messages: [{ role: 'user', content: 'go' }],
  tools: [{ name: 'run_cell', description: 'Run a cell', parameters: { type: 'object', properties: {} } }],
  maxTokens: 64,
};

function completion(
  message: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { choices: [{ index: 0, message, finish_reason: 'stop' }], ...extra };
}

function chunk(delta: Record<string, unknown>, finish: string | null = null): string {
  return JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] });
}

describe('OpenAiProvider with OpenAI-compatible servers', () => {
  let server: ScriptedLlmServer;
  let json: OpenAiProvider;
  let streaming: OpenAiProvider;

  beforeAll(async () => {
    server = await ScriptedLlmServer.start();
    json = new OpenAiProvider({
      baseUrl: `${server.origin}/v1`,
      apiKey: null,
      stream: false,
      timeoutMs: 5_000,
    });
    streaming = new OpenAiProvider({
      baseUrl: `${server.origin}/v1`,
      apiKey: null,
      stream: true,
      timeoutMs: 5_000,
    });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('accepts arguments sent as an object, a missing call id, "" for no arguments, and "stop" with tool calls (Ollama, vLLM)', async () => {
    server.reset({
      kind: 'json',
      body: completion({
        role: 'assistant',
        content: '',
        tool_calls: [
          { function: { name: 'run_cell', arguments: { cellId: 'c1' } } },
          { id: 'x', type: 'function', function: { name: 'run_cell', arguments: '' } },
        ],
      }),
    });
    const response = await json.complete(request);
    expect(response).toMatchObject({
      finishReason: 'tool_calls',
      toolCalls: [
        { id: 'call_0', name: 'run_cell', arguments: { cellId: 'c1' } },
        { id: 'x', name: 'run_cell', arguments: {} },
      ],
      // No usage and no model in the answer: zeros and the requested model.
      usage: { promptTokens: 0, completionTokens: 0 },
      model: 'm',
    });
  });

  it.each([
    ['a JSON array', '[1,2]', 'not an object'],
    ['a JSON string', '"run"', 'not an object'],
    ['truncated JSON', '{"cellId": "c', 'not valid JSON'],
  ])('rejects arguments that are %s', async (_what, args, expected) => {
    server.reset({
      kind: 'json',
      body: completion({
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'a', function: { name: 'run_cell', arguments: args } }],
      }),
    });
    const err = (await json.complete(request).catch((e: unknown) => e)) as LlmError;
    expect(err).toBeInstanceOf(LlmError);
    expect(err.kind).toBe('bad_response');
    expect(err.message).toContain(expected);
    expect(err.message).toContain('run_cell');
  });

  it('rejects a tool call without a function name', async () => {
    server.reset({
      kind: 'json',
      body: completion({
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'a', function: { arguments: '{}' } }],
      }),
    });
    await expect(json.complete(request)).rejects.toMatchObject({
      kind: 'bad_response',
      message: expect.stringContaining('no function name'),
    });
  });

  it('maps length and unknown finish reasons', async () => {
    server.reset(
      { kind: 'json', body: { choices: [{ message: { content: 'abc' }, finish_reason: 'length' }] } },
      { kind: 'json', body: { choices: [{ message: { content: 'abc' }, finish_reason: 'content_filter' }] } },
    );
    expect((await json.complete(request)).finishReason).toBe('length');
    expect((await json.complete(request)).finishReason).toBe('other');
  });

  it('reads a JSON answer when the server ignores stream: true', async () => {
    server.reset({
      kind: 'json',
      body: completion(
        { role: 'assistant', content: 'whole' },
        { usage: { prompt_tokens: 3, completion_tokens: 1 } },
      ),
    });
    const tokens: string[] = [];
    const response = await streaming.complete({ ...request, onToken: (t) => tokens.push(t) });
    expect(response.content).toBe('whole');
    expect(tokens).toEqual(['whole']);
    expect(server.lastBody).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('joins tool-call deltas by index and accepts streams without usage or [DONE] once finished (llama.cpp)', async () => {
    server.reset({
      kind: 'sse',
      cutOff: true,
      events: [
        chunk({ tool_calls: [{ index: 0, id: 'c0', function: { name: 'run_cell', arguments: '{"cell' } }] }),
        chunk({ tool_calls: [{ index: 1, id: 'c1', function: { name: 'run_cell', arguments: '{}' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: 'Id":"a"}' } }] }),
        chunk({}, 'tool_calls'),
      ],
    });
    const response = await streaming.complete(request);
    expect(response.toolCalls).toEqual([
      { id: 'c0', name: 'run_cell', arguments: { cellId: 'a' } },
      { id: 'c1', name: 'run_cell', arguments: {} },
    ]);
    expect(response.usage).toEqual({ promptTokens: 0, completionTokens: 0 });
  });

  it('treats a stream cut off before it finished as unavailable (retryable)', async () => {
    server.reset({ kind: 'sse', cutOff: true, events: [chunk({ content: 'half a sen' })] });
    await expect(streaming.complete(request)).rejects.toMatchObject({ kind: 'unavailable', retryable: true });
  });

  it('rejects a stream event that is not JSON, and an error event inside a stream', async () => {
    server.reset({ kind: 'sse', events: [chunk({ content: 'a' }), '{not json'] });
    await expect(streaming.complete(request)).rejects.toMatchObject({
      kind: 'bad_response',
      message: expect.stringContaining('not JSON'),
    });
    server.reset({ kind: 'sse', events: [JSON.stringify({ error: { message: 'model crashed' } })] });
    await expect(streaming.complete(request)).rejects.toMatchObject({
      kind: 'bad_response',
      message: expect.stringContaining('model crashed'),
    });
  });

  it('aborts in the middle of a stream after some tokens arrived', async () => {
    const events = Array.from({ length: 50 }, (_, i) => chunk({ content: `t${i} ` }));
    server.reset({ kind: 'sse', events, delayMs: 20 });
    const controller = new AbortController();
    const tokens: string[] = [];
    const pending = streaming.complete({
      ...request,
      signal: controller.signal,
      onToken: (t) => {
        tokens.push(t);
        if (tokens.length === 3) controller.abort();
      },
    });
    await expect(pending).rejects.toMatchObject({ kind: 'aborted' });
    expect(tokens.length).toBeGreaterThanOrEqual(3);
    expect(tokens.length).toBeLessThan(50);
  });

  it('never puts the key in an error, even when the server echoes the Authorization header', async () => {
    const key = 'sk-live-abcdefghijklmnop';
    const provider = createLlmProvider(
      {
        kind: 'openai',
        baseUrl: `${server.origin}/v1`,
        model: 'm',
        apiKey: key,
        pricePerMTokens: { prompt: '1', completion: '2' },
      },
      { stream: false },
    );
    server.reset({
      kind: 'raw',
      status: 401,
      contentType: 'text/plain',
      body: `bad header: Authorization: Bearer ${key}`,
    });
    const err = (await provider.complete(request).catch((e: unknown) => e)) as LlmError;
    expect(err.kind).toBe('auth');
    expect(err.message).not.toContain(key);
    expect(err.message).toContain('***');
  });
});

describe('createLlmProvider', () => {
  it('builds the adapter for each kind and refuses an unknown kind', () => {
    const base = {
      baseUrl: 'http://127.0.0.1:1',
      model: 'm',
      apiKey: null,
      pricePerMTokens: { prompt: '0', completion: '0' },
    };
    expect(createLlmProvider({ ...base, kind: 'openai' }).kind).toBe('openai');
    expect(createLlmProvider({ ...base, kind: 'local' }).kind).toBe('local');
    expect(createLlmProvider({ ...base, kind: 'anthropic' }).kind).toBe('anthropic');
    expect(() => createLlmProvider({ ...base, kind: 'gemini' as never })).toThrow(
      'unknown LLM provider kind "gemini"',
    );
  });
});
