import type {
  ListKernelsResponse,
  RestoreResponse,
  SnapshotResponse,
  StartKernelRequest,
  StartKernelResponse,
} from '@quire/contracts';

/**
 * A thin client of one host worker's internal API (contracts/src/api/
 * host-worker-api.ts). Errors keep the problem+json `code`, because the
 * lifecycle activities decide idempotency on it (`kernel.exists` after a
 * retried start means the first attempt won).
 */
export class HostApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HostApiError';
  }
}

/** The host did not answer at all (connection refused, DNS, timeout). */
export class HostUnreachableError extends Error {
  constructor(apiUrl: string, cause: Error) {
    super(`host worker at ${apiUrl} is unreachable: ${cause.message}`);
    this.name = 'HostUnreachableError';
  }
}

export class HostApiClient {
  constructor(
    private readonly apiUrl: string,
    private readonly timeoutMs = 300_000,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.apiUrl), {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new HostUnreachableError(this.apiUrl, err as Error);
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
      throw new HostApiError(res.status, code, `${method} ${path}: ${res.status} ${code}: ${detail}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  list(): Promise<ListKernelsResponse> {
    return this.call('GET', '/internal/kernels');
  }

  async find(kernelId: string) {
    const { kernels } = await this.list();
    const k = kernels.find((x) => x.kernelId === kernelId);
    if (!k) return undefined;
    // Older host workers called it `lastSnapshot`.
    const legacy = (k as unknown as { lastSnapshot?: string }).lastSnapshot;
    return { ...k, lastSnapshotId: k.lastSnapshotId ?? legacy ?? null };
  }

  start(req: StartKernelRequest): Promise<StartKernelResponse> {
    return this.call('POST', '/internal/kernels', req);
  }

  snapshot(kernelId: string): Promise<SnapshotResponse> {
    return this.call('POST', `/internal/kernels/${encodeURIComponent(kernelId)}/snapshot`);
  }

  restore(
    kernelId: string,
    snapshotId: string,
    gpu?: { device: string; visibleDevice: string },
  ): Promise<RestoreResponse> {
    return this.call('POST', `/internal/kernels/${encodeURIComponent(kernelId)}/restore`, {
      snapshotId,
      ...(gpu ? { gpu } : {}),
    });
  }

  terminate(kernelId: string): Promise<void> {
    return this.call('DELETE', `/internal/kernels/${encodeURIComponent(kernelId)}`);
  }

  setWarmPoolTarget(target: number): Promise<unknown> {
    return this.call('POST', '/internal/kernels/warm-pool', { target });
  }
}
