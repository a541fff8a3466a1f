import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BadRequestError } from '../chat/chat-request';
import { errorBody } from '../chat/openai-format';
import {
  ContextLengthError,
  GenerationAbortedError,
  QueueFullError,
  type InferenceEngine,
} from '../engine/inference-engine';
import { handleChatCompletion } from './chat-completions';

/**
 * The HTTP surface: GET /healthz (and /readyz), GET /v1/models, POST
 * /v1/chat/completions. The server listens while the model loads and answers
 * 503 until it is ready; errors are OpenAI-shaped `{error:{message,type}}`.
 */
export type EngineState =
  | { status: 'loading' }
  | { status: 'ready'; engine: InferenceEngine }
  | { status: 'failed'; message: string };

export interface LocalLlmServerOptions {
  modelId: string;
  defaultMaxTokens: number;
  state: () => EngineState;
  log?: (line: Record<string, unknown>) => void;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param?: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new HttpError(413, `the body is larger than ${MAX_BODY_BYTES} bytes`, 'invalid_request_error');
    parts.push(chunk as Buffer);
  }
  const text = Buffer.concat(parts).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the body is not valid JSON', 'invalid_request_error');
  }
}

function readyEngine(state: EngineState): InferenceEngine {
  if (state.status === 'ready') return state.engine;
  if (state.status === 'loading') {
    throw new HttpError(
      503,
      'the local model is still loading; retry in a few seconds',
      'service_unavailable',
    );
  }
  throw new HttpError(503, `the local model failed to load: ${state.message}`, 'service_unavailable');
}

export function createLocalLlmServer(opts: LocalLlmServerOptions): Server {
  const log = opts.log ?? (() => undefined);
  return createServer((req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://local');
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const route = `${req.method} ${url.pathname}`;
    const handle = async (): Promise<Record<string, unknown>> => {
      switch (route) {
        case 'GET /healthz':
        case 'GET /readyz': {
          const s = opts.state();
          const body =
            s.status === 'failed'
              ? { status: s.status, model: opts.modelId, error: s.message }
              : { status: s.status, model: opts.modelId };
          sendJson(res, s.status === 'ready' ? 200 : 503, body);
          return {};
        }
        case 'GET /v1/models':
          sendJson(res, 200, {
            object: 'list',
            data: [{ id: opts.modelId, object: 'model', created: 0, owned_by: 'quire-local' }],
          });
          return {};
        case 'POST /v1/chat/completions': {
          const engine = readyEngine(opts.state());
          const body = await readJson(req);
          const outcome = await handleChatCompletion(body, engine, opts.defaultMaxTokens, res, abort.signal);
          const r = outcome.result;
          return r
            ? {
                promptTokens: r.promptTokens,
                completionTokens: r.completionTokens,
                finish: r.finishReason,
                promptMs: Math.round(outcome.promptMs ?? 0),
                generationMs: Math.round(outcome.generationMs ?? 0),
              }
            : {};
        }
        default:
          if (['/healthz', '/readyz', '/v1/models', '/v1/chat/completions'].includes(url.pathname)) {
            throw new HttpError(
              405,
              `${req.method} is not allowed on ${url.pathname}`,
              'invalid_request_error',
            );
          }
          throw new HttpError(404, `no route ${url.pathname}`, 'invalid_request_error');
      }
    };
    handle()
      .then((extra) => {
        // Health probes (every 250 ms while the launcher waits) are not worth a line each.
        if (url.pathname !== '/healthz' && url.pathname !== '/readyz') {
          log({ route, status: res.statusCode, ms: Math.round(performance.now() - started), ...extra });
        }
      })
      .catch((err: unknown) => {
        const e = toHttpError(err);
        if (e.status === 499) {
          res.destroy();
        } else {
          sendJson(
            res,
            e.status,
            errorBody(e.message, e.type, e.param, e.code),
            e.status === 503 ? { 'retry-after': '2' } : {},
          );
        }
        log({ route, status: e.status, ms: Math.round(performance.now() - started), error: e.message });
      });
  });
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof BadRequestError)
    return new HttpError(400, err.message, 'invalid_request_error', err.param, err.code);
  if (err instanceof ContextLengthError) {
    return new HttpError(400, err.message, 'invalid_request_error', 'messages', 'context_length_exceeded');
  }
  if (err instanceof QueueFullError) return new HttpError(503, err.message, 'service_unavailable');
  if (err instanceof GenerationAbortedError) return new HttpError(499, err.message, 'aborted');
  return new HttpError(
    500,
    `the local model failed: ${(err as Error).message ?? String(err)}`,
    'server_error',
  );
}
