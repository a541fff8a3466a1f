import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { now } from './stats';

/**
 * A scripted OpenAI Chat Completions server on 127.0.0.1:0 for benchmarks of
 * the agent loop: `answer` builds each reply from the request body (no model,
 * no delay), and every request's time in the server (headers received →
 * response flushed) is recorded, so a benchmark can subtract it.
 */
export interface ScriptedRequest {
  body: unknown;
  /** performance.now() when the request's headers arrived and when the response ended. */
  receivedAt: number;
  sentAt: number;
  ms: number;
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

/** A non-streaming Chat Completions answer that calls `calls`. */
export function toolCallAnswer(calls: ToolCall[], usage = { prompt: 100, completion: 10 }): unknown {
  return {
    id: `chatcmpl-${calls[0]?.id ?? 'x'}`,
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
            function: { name: c.name, arguments: JSON.stringify(c.arguments) },
          })),
        },
        finish_reason: 'tool_calls',
      },
    ],
    usage: {
      prompt_tokens: usage.prompt,
      completion_tokens: usage.completion,
      total_tokens: usage.prompt + usage.completion,
    },
  };
}

export class ScriptedOpenAiServer {
  readonly requests: ScriptedRequest[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private port = 0;

  private constructor(private readonly answer: (body: unknown, index: number) => unknown) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(answer: (body: unknown, index: number) => unknown): Promise<ScriptedOpenAiServer> {
    const s = new ScriptedOpenAiServer(answer);
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    s.port = (s.server.address() as AddressInfo).port;
    return s;
  }

  /** The base URL an OpenAI-compatible client is given (…/v1). */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = now();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'scripted server: the body is not JSON' } }));
      return;
    }
    const index = this.requests.length;
    const record: ScriptedRequest = { body, receivedAt, sentAt: NaN, ms: NaN };
    this.requests.push(record);
    res.on('finish', () => {
      record.sentAt = now();
      record.ms = record.sentAt - receivedAt;
    });
    let reply: unknown;
    try {
      reply = this.answer(body, index);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `scripted server: ${(err as Error).message}` } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(reply));
  }
}
