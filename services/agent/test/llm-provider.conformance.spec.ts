import { AnthropicProvider } from '../src/llm/anthropic-provider';
import { LlmError, type LlmMessage, type LlmProvider, type LlmRequest } from '../src/llm/llm-provider';
import { OpenAiProvider } from '../src/llm/openai-provider';
import {
  anthropicScript,
  openAiScript,
  ScriptedLlmServer,
  type ScriptedToolCall,
  type ScriptedUsage,
  type ScriptStep,
} from './support/scripted-llm-server';

/**
 * Every adapter behind LlmProvider, against a scripted HTTP server speaking
 * its wire format: the same expectations for text, tool calls, usage,
 * streaming tokens, malformed answers, HTTP errors, dropped connections and abort.
 */

const API_KEY = 'sk-test-SECRET-0123456789abcdef';

interface Dialect {
  name: string;
  path: string;
  make(origin: string, apiKey: string | null): LlmProvider;
  text(content: string, usage: ScriptedUsage): ScriptStep;
  toolCalls(calls: ScriptedToolCall[], usage: ScriptedUsage): ScriptStep;
  error(status: number, message: string): ScriptStep;
  /** Where the dialect carries the API key. */
  authHeader(headers: Record<string, string | string[] | undefined>): string | undefined;
  /** Text was streamed as several onToken deltas. */
  streams: boolean;
}

const dialects: Dialect[] = [
  {
    name: 'openai (json)',
    path: '/v1/chat/completions',
    make: (origin, apiKey) =>
      new OpenAiProvider({ baseUrl: `${origin}/v1`, apiKey, stream: false, timeoutMs: 5_000 }),
    text: openAiScript.text,
    toolCalls: openAiScript.toolCalls,
    error: openAiScript.error,
    authHeader: (h) => h.authorization as string | undefined,
    streams: false,
  },
  {
    name: 'openai (sse stream)',
    path: '/v1/chat/completions',
    make: (origin, apiKey) =>
      new OpenAiProvider({ baseUrl: `${origin}/v1/`, apiKey, stream: true, timeoutMs: 5_000 }),
    text: (content, usage) => openAiScript.stream([content.slice(0, 3), content.slice(3)], [], usage),
    toolCalls: (calls, usage) => openAiScript.stream([], calls, usage),
    error: openAiScript.error,
    authHeader: (h) => h.authorization as string | undefined,
    streams: true,
  },
  {
    name: 'anthropic',
    path: '/v1/messages',
    make: (origin, apiKey) => new AnthropicProvider({ baseUrl: origin, apiKey, timeoutMs: 5_000 }),
    text: anthropicScript.text,
    toolCalls: anthropicScript.toolCalls,
    error: anthropicScript.error,
    authHeader: (h) => h['x-api-key'] as string | undefined,
    streams: false,
  },
];

const readFileTool = {
  name: 'read_cell',
  description: 'Read a notebook cell',
  parameters: { type: 'object', properties: { cellId: { type: 'string' } }, required: ['cellId'] },
};

function request(overrides: Partial<LlmRequest> = {}): LlmRequest {
  return {
    model: 'test-model',
    messages: [
      { role: 'system', content: 'You edit notebooks.' },
      { role: 'user', content: 'Fix cell 3' },
    ],
    tools: [readFileTool],
    maxTokens: 256,
    temperature: 0,
    ...overrides,
  };
}

async function expectLlmError(promise: Promise<unknown>, kind: LlmError['kind']): Promise<LlmError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LlmError);
  const llmError = err as LlmError;
  expect({ kind: llmError.kind, message: llmError.message }).toEqual({ kind, message: expect.any(String) });
  expect(llmError.message).not.toContain(API_KEY);
  return llmError;
}

describe.each(dialects)('LlmProvider conformance: $name', (dialect) => {
  let server: ScriptedLlmServer;
  let provider: LlmProvider;

  beforeAll(async () => {
    server = await ScriptedLlmServer.start();
    provider = dialect.make(server.origin, API_KEY);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('returns text, usage and a stop finish, sending the key and the request to the right path', async () => {
    server.reset(dialect.text('Hello there', { prompt: 17, completion: 4 }));
    const tokens: string[] = [];
    const response = await provider.complete(request({ onToken: (t) => tokens.push(t) }));
    expect(response).toMatchObject({
      content: 'Hello there',
      toolCalls: [],
      usage: { promptTokens: 17, completionTokens: 4 },
      finishReason: 'stop',
      model: 'scripted-model',
    });
    expect(tokens.join('')).toBe('Hello there');
    if (dialect.streams) expect(tokens.length).toBeGreaterThan(1);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.path).toBe(dialect.path);
    expect(dialect.authHeader(server.requests[0]!.headers)).toContain(API_KEY);
    expect(server.lastBody).toMatchObject({ model: 'test-model', max_tokens: 256, temperature: 0 });
  });

  it('parses tool calls with their ids and JSON-object arguments', async () => {
    server.reset(
      dialect.toolCalls(
        [
          { id: 'call_a', name: 'read_cell', argumentsJson: '{"cellId":"c3"}' },
          { id: 'call_b', name: 'read_cell', argumentsJson: '{"cellId":"c4","nested":{"x":[1,2]}}' },
        ],
        { prompt: 40, completion: 12 },
      ),
    );
    const response = await provider.complete(request());
    expect(response.finishReason).toBe('tool_calls');
    expect(response.toolCalls).toEqual([
      { id: 'call_a', name: 'read_cell', arguments: { cellId: 'c3' } },
      { id: 'call_b', name: 'read_cell', arguments: { cellId: 'c4', nested: { x: [1, 2] } } },
    ]);
    expect(response.usage).toEqual({ promptTokens: 40, completionTokens: 12 });
  });

  it('sends tools and a conversation with a tool call and its result in the wire format', async () => {
    server.reset(dialect.text('done', { prompt: 1, completion: 1 }));
    const messages: LlmMessage[] = [
      { role: 'system', content: 'You edit notebooks.' },
      { role: 'user', content: 'Fix cell 3' },
      {
        role: 'assistant',
        content: null,
        toolCalls: [{ id: 'call_a', name: 'read_cell', arguments: { cellId: 'c3' } }],
      },
      { role: 'tool', toolCallId: 'call_a', name: 'read_cell', content: 'print(1' },
    ];
    await provider.complete(request({ messages }));
    const body = server.lastBody;
    const serialized = JSON.stringify(body);
    // Whatever the wire format, the tool's schema, the call id, its arguments and its result travel.
    expect(serialized).toContain('"cellId"');
    expect(serialized).toContain('call_a');
    expect(serialized).toContain('print(1');
    expect(serialized).toContain('You edit notebooks.');
    if (dialect.path === '/v1/messages') {
      expect(body.system).toBe('You edit notebooks.');
      expect(body.tools).toEqual([
        { name: 'read_cell', description: 'Read a notebook cell', input_schema: readFileTool.parameters },
      ]);
      expect(body.messages).toEqual([
        { role: 'user', content: [{ type: 'text', text: 'Fix cell 3' }] },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'call_a', name: 'read_cell', input: { cellId: 'c3' } }],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_a', content: 'print(1' }] },
      ]);
    } else {
      expect(body.tools).toEqual([{ type: 'function', function: readFileTool }]);
      expect(body.messages).toEqual([
        { role: 'system', content: 'You edit notebooks.' },
        { role: 'user', content: 'Fix cell 3' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'read_cell', arguments: '{"cellId":"c3"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_a', name: 'read_cell', content: 'print(1' },
      ]);
    }
  });

  it('omits tools when the request has none', async () => {
    server.reset(dialect.text('ok', { prompt: 1, completion: 1 }));
    await provider.complete(request({ tools: [] }));
    expect(server.lastBody).not.toHaveProperty('tools');
  });

  it('rejects a tool call whose arguments are not valid JSON as bad_response, naming the tool', async () => {
    server.reset(
      dialect.toolCalls([{ id: 'call_x', name: 'read_cell', argumentsJson: '{"cellId": "c3"' }], {
        prompt: 1,
        completion: 1,
      }),
    );
    const err = await expectLlmError(provider.complete(request()), 'bad_response');
    expect(err.message).toContain('read_cell');
    expect(err.retryable).toBe(false);
  });

  it('rejects a 2xx body that is not JSON as bad_response', async () => {
    server.reset({ kind: 'raw', contentType: 'text/html', body: '<html>proxy login</html>' });
    const err = await expectLlmError(provider.complete(request()), 'bad_response');
    expect(err.message).toContain('not JSON');
  });

  it('rejects a 2xx JSON body that is not a completion as bad_response', async () => {
    server.reset({ kind: 'json', body: { hello: 'world' } });
    await expectLlmError(provider.complete(request()), 'bad_response');
  });

  it.each([
    [401, 'auth', false],
    [403, 'auth', false],
    [429, 'rate_limited', true],
    [500, 'unavailable', true],
    [503, 'unavailable', true],
    [400, 'rejected', false],
  ] as const)(
    'maps HTTP %i to %s (retryable %s) with the provider message and never the key',
    async (status, kind, retryable) => {
      server.reset(dialect.error(status, `scripted failure; echoed key ${API_KEY}`));
      const err = await expectLlmError(provider.complete(request()), kind);
      expect(err.status).toBe(status);
      expect(err.retryable).toBe(retryable);
      expect(err.message).toContain('scripted failure');
      expect(err.message).toContain(String(status));
    },
  );

  it('maps a dropped connection to unavailable', async () => {
    server.reset({ kind: 'destroy' });
    const err = await expectLlmError(provider.complete(request()), 'unavailable');
    expect(err.retryable).toBe(true);
  });

  it('maps a refused connection to unavailable, naming the host', async () => {
    const gone = await ScriptedLlmServer.start();
    const origin = gone.origin;
    await gone.stop();
    const err = await expectLlmError(dialect.make(origin, API_KEY).complete(request()), 'unavailable');
    expect(err.message).toContain(new URL(origin).host);
  });

  it('maps an abort to aborted, and an already-aborted signal sends nothing', async () => {
    server.reset({ kind: 'stall' });
    const controller = new AbortController();
    const pending = provider.complete(request({ signal: controller.signal }));
    await waitFor(() => server.requests.length === 1);
    controller.abort();
    await expectLlmError(pending, 'aborted');

    server.reset(dialect.text('never', { prompt: 1, completion: 1 }));
    await expectLlmError(provider.complete(request({ signal: AbortSignal.abort() })), 'aborted');
    expect(server.requests).toHaveLength(0);
  });

  it('maps a stall past the timeout to unavailable', async () => {
    server.reset({ kind: 'stall' });
    const impatient = new (provider.constructor as new (o: unknown) => LlmProvider)({
      baseUrl: dialect.path === '/v1/messages' ? server.origin : `${server.origin}/v1`,
      apiKey: API_KEY,
      timeoutMs: 200,
    });
    const err = await expectLlmError(impatient.complete(request()), 'unavailable');
    expect(err.message).toContain('200 ms');
  });

  it('sends no auth header without a key', async () => {
    server.reset(dialect.text('ok', { prompt: 1, completion: 1 }));
    await dialect.make(server.origin, null).complete(request());
    expect(dialect.authHeader(server.requests[0]!.headers)).toBeUndefined();
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error('condition not met within 5 s');
}
