import { GpuAllocationRequest, GpuReleaseRequest, hostApiId, type GpuRequestState } from '@quire/contracts';

/**
 * A thin client of the gpu-scheduler's internal API
 * (contracts/src/api/gpu-scheduler-api.ts). Requests are validated against
 * the contract before they leave; the scheduler's problem+json `code`
 * (gpu.quota_exceeded, gpu.unknown_type…) is kept so the activity can decide
 * what is worth a retry.
 */
export class GpuSchedulerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GpuSchedulerError';
  }
}

export class GpuSchedulerUnreachableError extends Error {
  constructor(baseUrl: string, cause: Error) {
    super(`gpu-scheduler at ${baseUrl} is unreachable: ${cause.message}`);
    this.name = 'GpuSchedulerUnreachableError';
  }
}

export class GpuSchedulerClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 15_000,
    /** QUIRE_INTERNAL_TOKEN, sent as a bearer token when the scheduler asks for one. */
    private readonly token?: string,
  ) {
    if (!/^https?:\/\//.test(baseUrl))
      throw new Error(`QUIRE_GPU_SCHEDULER_URL must be an http(s) URL, got "${baseUrl}"`);
  }

  /** POST /internal/gpu/requests: idempotent by requestId (asking again returns where it stands). */
  async request(req: GpuAllocationRequest): Promise<GpuRequestState> {
    return this.call('POST', '/internal/gpu/requests', GpuAllocationRequest.parse(req));
  }

  async get(requestId: string): Promise<GpuRequestState> {
    return this.call('GET', `/internal/gpu/requests/${encodeURIComponent(hostApiId.parse(requestId))}`);
  }

  /** POST /internal/gpu/requests/:id/release: idempotent; a queued request leaves the queue. */
  async release(requestId: string, req: GpuReleaseRequest): Promise<GpuRequestState> {
    return this.call(
      'POST',
      `/internal/gpu/requests/${encodeURIComponent(hostApiId.parse(requestId))}/release`,
      GpuReleaseRequest.parse(req),
    );
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new GpuSchedulerUnreachableError(this.baseUrl, err as Error);
    }
    const text = await res.text();
    if (!res.ok) {
      let code = `http.${res.status}`;
      let detail = text.slice(0, 500);
      try {
        const problem = JSON.parse(text) as { code?: string; detail?: string; title?: string };
        code = problem.code ?? code;
        detail = problem.detail ?? problem.title ?? detail;
      } catch {
        // not problem+json: keep the raw text
      }
      throw new GpuSchedulerError(res.status, code, `${method} ${path}: ${res.status} ${code}: ${detail}`);
    }
    return JSON.parse(text) as T;
  }
}
