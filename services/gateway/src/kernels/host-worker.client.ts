import type {
  ExecuteRequest,
  ExecuteStreamLine,
  KernelShellReply,
  KernelShellRequest,
  ListKernelsResponse,
  RestoreResponse,
  StartKernelRequest,
  StartKernelResponse,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';

/** A client of one host worker's internal API (host-worker-api.ts). */
export class HostWorkerClient {
  constructor(readonly baseUrl: string) {}

  async list(): Promise<ListKernelsResponse> {
    return (await this.json('GET', '/internal/kernels')) as ListKernelsResponse;
  }

  async start(req: StartKernelRequest): Promise<StartKernelResponse> {
    return (await this.json('POST', '/internal/kernels', req)) as StartKernelResponse;
  }

  async restore(kernelId: string, snapshotId: string): Promise<RestoreResponse> {
    return (await this.json('POST', `/internal/kernels/${enc(kernelId)}/restore`, {
      snapshotId,
    })) as RestoreResponse;
  }

  async interrupt(kernelId: string): Promise<{ result: 'interrupted' | 'killed' }> {
    return (await this.json('POST', `/internal/kernels/${enc(kernelId)}/interrupt`)) as {
      result: 'interrupted' | 'killed';
    };
  }

  /** A shell request that is not an execution (completion, inspection…), answered by the kernel. */
  async shellRequest(kernelId: string, req: KernelShellRequest): Promise<KernelShellReply> {
    return (await this.json('POST', `/internal/kernels/${enc(kernelId)}/request`, req)) as KernelShellReply;
  }

  async input(kernelId: string, value: string): Promise<void> {
    await this.json('POST', `/internal/kernels/${enc(kernelId)}/input`, { value });
  }

  async terminate(kernelId: string): Promise<void> {
    try {
      await this.json('DELETE', `/internal/kernels/${enc(kernelId)}`);
    } catch (err) {
      if (!(err instanceof QuireError && err.kind === 'not_found')) throw err;
    }
  }

  /** Runs code; calls `onLine` for each NDJSON line as it arrives; resolves after the last. */
  async execute(
    kernelId: string,
    req: ExecuteRequest,
    onLine: (line: ExecuteStreamLine) => Promise<void> | void,
  ): Promise<void> {
    const res = await this.fetch('POST', `/internal/kernels/${enc(kernelId)}/execute`, req);
    if (!res.ok) throw await problem(res);
    let buf = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (text) await onLine(JSON.parse(text) as ExecuteStreamLine);
      }
    }
  }

  private async json(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.fetch(method, path, body);
    if (!res.ok) throw await problem(res);
    const text = await res.text();
    return text ? (JSON.parse(text) as unknown) : undefined;
  }

  private async fetch(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl.replace(/\/$/, '')}${path}`, {
        method,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
    } catch (err) {
      throw new QuireError(
        'unavailable',
        `the kernel host is not reachable (${this.baseUrl})`,
        'kernel.host_unreachable',
        err,
      );
    }
  }
}

async function problem(res: Response): Promise<QuireError> {
  let p: { code?: string; detail?: string } = {};
  try {
    p = (await res.json()) as typeof p;
  } catch {
    /* not problem+json */
  }
  const kind =
    res.status === 404
      ? 'not_found'
      : res.status === 409
        ? 'conflict'
        : res.status === 400
          ? 'validation'
          : 'unavailable';
  return new QuireError(kind, p.detail ?? `kernel host answered ${res.status}`, p.code ?? `kernel.${kind}`);
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
