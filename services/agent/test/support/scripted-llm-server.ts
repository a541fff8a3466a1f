import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1:0 that answers each request with the next
 * step of a script chosen by the test, and records every request. Builders
 * below produce OpenAI Chat Completions and Anthropic Messages answers, and
 * the failure modes (garbage, HTTP errors, a dropped connection, a stall).
 */

export type ScriptStep =
  | { kind: 'json'; status?: number; body: unknown }
  | { kind: 'raw'; status?: number; contentType: string; body: string }
  | {
      kind: 'sse';
      events: string[];
      delayMs?: number;
      /** End the socket after the events, without [DONE]. */ cutOff?: boolean;
    }
  /** Send headers, then nothing until the client gives up. */
  | { kind: 'stall' }
  /** Close the socket without an answer. */
  | { kind: 'destroy' };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export class ScriptedLlmServer {
  readonly requests: RecordedRequest[] = [];
  private script: ScriptStep[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private port = 0;

  private constructor() {
    this.server = createServer((req, res) => void this.answer(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<ScriptedLlmServer> {
    const s = new ScriptedLlmServer();
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.port = (s.server.address() as AddressInfo).port;
    return s;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Replaces the script and forgets recorded requests. */
  reset(...steps: ScriptStep[]): void {
    this.script = [...steps];
    this.requests.length = 0;
  }

  get lastBody(): Record<string, unknown> {
    const last = this.requests[this.requests.length - 1];
    if (!last) throw new Error('the scripted server has received no request');
    return last.body as Record<string, unknown>;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // recorded as text
    }
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
    const step = this.script.shift();
    if (!step) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'scripted server: script exhausted' } }));
      return;
    }
    switch (step.kind) {
      case 'json':
        res.writeHead(step.status ?? 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(step.body));
        return;
      case 'raw':
        res.writeHead(step.status ?? 200, { 'content-type': step.contentType });
        res.end(step.body);
        return;
      case 'sse':
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        for (const event of step.events) {
          if (res.destroyed) return;
          res.write(`data: ${event}\n\n`);
          if (step.delayMs) await new Promise((r) => setTimeout(r, step.delayMs));
        }
        // Half-close after the written events flush: the chunked body never terminates.
        if (step.cutOff) res.socket?.end();
        else res.end('data: [DONE]\n\n');
        return;
      case 'stall':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        return;
      case 'destroy':
        req.socket.destroy();
        return;
    }
  }
}

export interface ScriptedToolCall {
  id: string;
  name: string;
  /** Sent verbatim, so a test can send invalid JSON. */
  argumentsJson: string;
}

export interface ScriptedUsage {
  prompt: number;
  completion: number;
}

/** OpenAI Chat Completions answers. */
export const openAiScript = {
  text(content: string, usage: ScriptedUsage, model = 'scripted-model'): ScriptStep {
    return {
      kind: 'json',
      body: {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: usage.prompt,
          completion_tokens: usage.completion,
          total_tokens: usage.prompt + usage.completion,
        },
      },
    };
  },
  toolCalls(calls: ScriptedToolCall[], usage: ScriptedUsage, finishReason = 'tool_calls'): ScriptStep {
    return {
      kind: 'json',
      body: {
        id: 'chatcmpl-2',
        object: 'chat.completion',
        model: 'scripted-model',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              tool_calls: calls.map((c) => ({
                id: c.id,
                type: 'function',
                function: { name: c.name, arguments: c.argumentsJson },
              })),
            },
            finish_reason: finishReason,
          },
        ],
        usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion },
      },
    };
  },
  /** Text split into `pieces`, tool-call arguments split in two deltas, usage in a last chunk without choices. */
  stream(pieces: string[], calls: ScriptedToolCall[], usage: ScriptedUsage, delayMs = 0): ScriptStep {
    const events: string[] = [];
    const chunk = (delta: unknown, finish: string | null = null): string =>
      JSON.stringify({
        id: 'c',
        object: 'chat.completion.chunk',
        model: 'scripted-model',
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
    events.push(chunk({ role: 'assistant', content: '' }));
    for (const piece of pieces) events.push(chunk({ content: piece }));
    calls.forEach((c, index) => {
      const half = Math.floor(c.argumentsJson.length / 2);
      events.push(
        chunk({
          tool_calls: [
            {
              index,
              id: c.id,
              type: 'function',
              function: { name: c.name, arguments: c.argumentsJson.slice(0, half) },
            },
          ],
        }),
      );
      events.push(chunk({ tool_calls: [{ index, function: { arguments: c.argumentsJson.slice(half) } }] }));
    });
    events.push(chunk({}, calls.length > 0 ? 'tool_calls' : 'stop'));
    events.push(
      JSON.stringify({
        id: 'c',
        object: 'chat.completion.chunk',
        model: 'scripted-model',
        choices: [],
        usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion },
      }),
    );
    return { kind: 'sse', events, delayMs };
  },
  error(status: number, message: string): ScriptStep {
    return { kind: 'json', status, body: { error: { message, type: 'scripted_error' } } };
  },
};

/** Anthropic Messages answers. */
export const anthropicScript = {
  text(content: string, usage: ScriptedUsage, model = 'scripted-model'): ScriptStep {
    return {
      kind: 'json',
      body: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text: content }],
        stop_reason: 'end_turn',
        usage: { input_tokens: usage.prompt, output_tokens: usage.completion },
      },
    };
  },
  /** `argumentsJson` is parsed here (Anthropic sends objects); invalid JSON is sent as a string input. */
  toolCalls(calls: ScriptedToolCall[], usage: ScriptedUsage): ScriptStep {
    return {
      kind: 'json',
      body: {
        id: 'msg_2',
        type: 'message',
        role: 'assistant',
        model: 'scripted-model',
        content: calls.map((c) => {
          let input: unknown;
          try {
            input = JSON.parse(c.argumentsJson);
          } catch {
            input = c.argumentsJson;
          }
          return { type: 'tool_use', id: c.id, name: c.name, input };
        }),
        stop_reason: 'tool_use',
        usage: { input_tokens: usage.prompt, output_tokens: usage.completion },
      },
    };
  },
  error(status: number, message: string): ScriptStep {
    const type =
      status === 429
        ? 'rate_limit_error'
        : status === 401
          ? 'authentication_error'
          : status >= 500
            ? 'api_error'
            : 'invalid_request_error';
    return { kind: 'json', status, body: { type: 'error', error: { type, message } } };
  },
};
