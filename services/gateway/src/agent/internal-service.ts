import { ERROR_KINDS, QuireError, type ErrorKind } from '@quire/service-kit';

/**
 * Calls to an internal service behind the gateway (the agent service, the
 * gpu-scheduler) and how their failures reach the user: unreachable or
 * misconfigured → 503 `<prefix>.unavailable`; a 4xx problem+json passes
 * through with its status, code and detail; a 5xx keeps the service's code
 * (or `<prefix>.unavailable`) as a 503. A refusal of the gateway's own
 * credentials (401/403 from the service) is the operator's problem, not the
 * user's: 503, never a 401/403 that would read as "you may not".
 */
export interface InternalServiceOptions {
  /** `agent` or `gpu`: error codes are `<prefix>.…`. */
  codePrefix: string;
  /** In messages: "the agent service", "the GPU scheduler". */
  label: string;
  baseUrl: string;
  /** Bearer token the service trusts; undefined = not configured (every call is 503). */
  token: string | undefined;
  /** Per-call limit for plain (non-streaming) calls. */
  timeoutMs?: number;
}

export interface InternalCall {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export class InternalService {
  constructor(private readonly opts: InternalServiceOptions) {}

  /** A JSON call; resolves to the parsed body of a 2xx answer. */
  async json<T>(call: InternalCall): Promise<T> {
    const res = await this.send(call, AbortSignal.timeout(this.opts.timeoutMs ?? 15_000));
    const text = await res.text().catch((err: unknown) => {
      throw this.unavailable(`${this.opts.label} stopped answering mid-response; try again`, err);
    });
    if (!res.ok) throw this.problemOf(res.status, text);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw this.unavailable(`${this.opts.label} sent an answer that is not JSON`, err);
    }
  }

  /**
   * A streaming call (Server-Sent Events): resolves once the service has sent
   * a 2xx status and its headers; the body is left unread for the caller to
   * pipe. `signal` ends the upstream request (the browser went away).
   */
  async stream(call: InternalCall, signal: AbortSignal): Promise<Response> {
    const connect = AbortSignal.timeout(this.opts.timeoutMs ?? 15_000);
    const both = new AbortController();
    const abort = () => both.abort();
    signal.addEventListener('abort', abort, { once: true });
    connect.addEventListener('abort', abort, { once: true });
    let res: Response;
    try {
      res = await this.send(call, both.signal);
    } finally {
      // After the headers only the caller's signal may end the stream.
      connect.removeEventListener('abort', abort);
    }
    if (!res.ok) throw this.problemOf(res.status, await res.text().catch(() => ''));
    if (!res.body) throw this.unavailable(`${this.opts.label} sent an empty stream`);
    return res;
  }

  private async send(call: InternalCall, signal: AbortSignal): Promise<Response> {
    if (!this.opts.token)
      throw this.unavailable(
        `${this.opts.label} is not configured on this gateway (QUIRE_INTERNAL_TOKEN is not set)`,
      );
    const url = `${this.opts.baseUrl.replace(/\/$/, '')}${call.path}`;
    try {
      return await fetch(url, {
        method: call.method,
        headers: {
          authorization: `Bearer ${this.opts.token}`,
          accept: 'application/json, text/event-stream, application/problem+json',
          ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...call.headers,
        },
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
        signal,
      });
    } catch (err) {
      throw this.unavailable(`${this.opts.label} is not reachable; try again shortly`, err);
    }
  }

  private problemOf(status: number, text: string): QuireError {
    let problem: { code?: unknown; detail?: unknown } = {};
    try {
      problem = JSON.parse(text) as typeof problem;
    } catch {
      /* not problem+json */
    }
    const code = typeof problem.code === 'string' ? problem.code : undefined;
    const detail = typeof problem.detail === 'string' ? problem.detail : undefined;
    if (status === 401 || status === 403)
      return this.unavailable(
        `${this.opts.label} refused the gateway's credentials (QUIRE_INTERNAL_TOKEN differs); tell your operator`,
        { status, code, detail },
      );
    if (status >= 400 && status < 500) {
      const kind = (Object.entries(ERROR_KINDS).find(([, v]) => v.status === status)?.[0] ??
        'validation') as ErrorKind;
      return new QuireError(
        kind,
        detail ?? `${this.opts.label} refused the request (${status})`,
        code ?? `${this.opts.codePrefix}.${kind}`,
      );
    }
    return new QuireError(
      'unavailable',
      detail ?? `${this.opts.label} failed (${status}); try again shortly`,
      code?.startsWith(`${this.opts.codePrefix}.`) ? code : `${this.opts.codePrefix}.unavailable`,
      { status, code, detail },
    );
  }

  private unavailable(message: string, cause?: unknown): QuireError {
    return new QuireError('unavailable', message, `${this.opts.codePrefix}.unavailable`, cause);
  }
}
