import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import {
  ContextLengthError,
  GenerationAbortedError,
  type GenerateRequest,
  type GenerateResult,
  type InferenceEngine,
} from '../engine/inference-engine';
import { createLocalLlmServer, type EngineState } from './server';

/** A fake engine: answers scripted text with fixed token counts and records what it was asked. */
class FakeEngine implements InferenceEngine {
  readonly modelId = 'fake-model';
  readonly contextSize = 100;
  readonly requests: GenerateRequest[] = [];
  reply: { text: string; stopReason?: 'stop' | 'length'; stream?: string[] } = { text: 'hi' };
  aborted = false;
  hang = false;

  generate(req: GenerateRequest): Promise<GenerateResult> {
    this.requests.push(req);
    if (req.prompt.length > 5000) throw new ContextLengthError(2000, this.contextSize);
    return (async () => {
      if (this.hang) {
        await new Promise<void>((resolve) => req.signal.addEventListener('abort', () => resolve()));
        this.aborted = true;
        throw new GenerationAbortedError();
      }
      for (const piece of this.reply.stream ?? []) req.onText?.(piece);
      return {
        text: this.reply.text,
        promptTokens: 17,
        completionTokens: 5,
        stopReason: this.reply.stopReason ?? 'stop',
        promptMs: 1,
        generationMs: 1,
      };
    })();
  }

  async close(): Promise<void> {}
}

const insertCell = {
  type: 'function',
  function: {
    name: 'insert_cell',
    parameters: { type: 'object', properties: { source: { type: 'string' } }, required: ['source'] },
  },
};
const user = [{ role: 'user', content: 'go' }];

interface ToolCallJson {
  index?: number;
  id?: string;
  type?: string;
  function: { name?: string; arguments: string };
}
/** A completion body or an SSE chunk, as far as these tests read them. */
interface Completion {
  id: string;
  choices: {
    finish_reason: string | null;
    message?: { role: string; content: string | null; tool_calls?: ToolCallJson[] };
    delta?: { role?: string; content?: string; tool_calls?: ToolCallJson[] };
  }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  data?: { id: string }[];
}

describe('local-llm HTTP server (fake engine)', () => {
  let server: Server;
  let base: string;
  const engine = new FakeEngine();
  let state: EngineState = { status: 'ready', engine };

  beforeAll(async () => {
    server = createLocalLlmServer({ modelId: 'fake-model', defaultMaxTokens: 64, state: () => state });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    state = { status: 'ready', engine };
    engine.requests.length = 0;
    engine.hang = false;
  });

  const post = (body: unknown) =>
    fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const sseEvents = (text: string) =>
    text
      .split('\n\n')
      .filter((b) => b.startsWith('data: '))
      .map((b) => b.slice(6))
      .map((d) => (d === '[DONE]' ? d : (JSON.parse(d) as Completion)));

  it('a grammar reply naming a tool becomes tool_calls with a JSON-string arguments and usage', async () => {
    engine.reply = { text: '{"tool": "insert_cell", "arguments": {"source": "print(1)"}}' };
    const res = await post({ messages: user, tools: [insertCell], max_tokens: 20, temperature: 0 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Completion;
    expect(body.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_0',
            type: 'function',
            function: { name: 'insert_cell', arguments: '{"source":"print(1)"}' },
          },
        ],
      },
    });
    expect(body.usage).toEqual({ prompt_tokens: 17, completion_tokens: 5, total_tokens: 22 });
    expect(engine.requests[0]).toMatchObject({ maxTokens: 20, temperature: 0 });
    expect(engine.requests[0]!.grammarSchema).toBeDefined();
  });

  it('an answer becomes content; a cut-off reply is finish_reason "length" with the raw text', async () => {
    engine.reply = { text: '{"answer": "All done."}' };
    let body = (await (await post({ messages: user, tools: [insertCell] })).json()) as Completion;
    expect(body.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: 'All done.' } });
    expect(engine.requests[0]!.maxTokens).toBe(64);

    engine.reply = { text: '{"tool": "insert_cell", "argu', stopReason: 'length' };
    body = (await (await post({ messages: user, tools: [insertCell] })).json()) as Completion;
    expect(body.choices[0]).toMatchObject({
      finish_reason: 'length',
      message: { content: '{"tool": "insert_cell", "argu' },
    });
  });

  it('streams a tool call as OpenAI deltas, then finish, then usage, then [DONE]', async () => {
    engine.reply = { text: '{"tool": "insert_cell", "arguments": {"source": "x = 1"}}' };
    const res = await post({
      messages: user,
      tools: [insertCell],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = sseEvents(await res.text());
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1) as Completion[];
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks[1]!.choices[0]!.delta!.tool_calls![0]).toEqual({
      index: 0,
      id: 'call_0',
      type: 'function',
      function: { name: 'insert_cell', arguments: '' },
    });
    const args = chunks
      .flatMap((c) => c.choices[0]?.delta?.tool_calls ?? [])
      .map((t) => t.function.arguments)
      .join('');
    expect(JSON.parse(args)).toEqual({ source: 'x = 1' });
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 17, completion_tokens: 5, total_tokens: 22 },
    });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it('streams free text as it is generated (no tools: no grammar), without usage unless asked', async () => {
    engine.reply = { text: 'Hello there', stream: ['Hello', ' there'] };
    const events = sseEvents(await (await post({ messages: user, stream: true })).text());
    const deltas = (events.slice(0, -1) as Completion[]).map((c) => c.choices[0]?.delta?.content);
    expect(deltas).toEqual(['', 'Hello', ' there', undefined]);
    expect(engine.requests[0]!.grammarSchema).toBeUndefined();
    expect(events.some((e) => e !== '[DONE]' && e.usage)).toBe(false);
  });

  it.each([
    ['not JSON', '{bad', 'the body is not valid JSON'],
    ['no messages', { messages: [] }, 'messages: at least one message'],
    ['a bad temperature', { messages: user, temperature: 9 }, 'temperature'],
    ['too long a prompt', { messages: [{ role: 'user', content: 'x'.repeat(6000) }] }, 'context'],
  ])('400 with an OpenAI error body for %s', async (_name, body, message) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    const err = (await res.json()) as { error: { message: string; type: string } };
    expect(err.error.type).toBe('invalid_request_error');
    expect(err.error.message).toContain(message);
  });

  it('503 while the model loads or after it failed to load; /healthz says which', async () => {
    state = { status: 'loading' };
    let res = await post({ messages: user });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('service_unavailable');
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    state = { status: 'failed', message: 'model file missing' };
    res = await post({ messages: user });
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      'model file missing',
    );
    state = { status: 'ready', engine };
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ready', model: 'fake-model' });
  });

  it('lists the model; unknown routes are 404, wrong methods 405', async () => {
    expect(await (await fetch(`${base}/v1/models`)).json()).toMatchObject({ data: [{ id: 'fake-model' }] });
    expect((await fetch(`${base}/v1/nothing`)).status).toBe(404);
    expect((await fetch(`${base}/v1/chat/completions`)).status).toBe(405);
  });

  it('a client that disconnects aborts its generation', async () => {
    engine.hang = true;
    const ac = new AbortController();
    const res = fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ messages: user }),
      signal: ac.signal,
    }).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 200));
    ac.abort();
    await res;
    for (let i = 0; i < 50 && !engine.aborted; i++) await new Promise((r) => setTimeout(r, 20));
    expect(engine.aborted).toBe(true);
  });
});
