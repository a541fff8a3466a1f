import {
  AGENT_KERNEL_FORK_ROUTES,
  type CreateKernelForkRequest,
  type ExecuteStreamLine,
  type ForkExecuteRequest,
  type ForkKernelResponse,
  type NotebookOutput,
} from '@quire/contracts';

/** A failed call to the gateway's kernel-fork routes: `code` is the problem's stable code. */
export class KernelForkError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'KernelForkError';
  }

  /** Worth another attempt: the host or gateway was unreachable, or the kernel was busy. */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 0 || this.code === 'kernel.busy';
  }
}

export interface ForkRunResult {
  outputs: NotebookOutput[];
  status: 'ok' | 'error' | 'aborted' | 'interrupted' | 'kernel_died';
  ms: number;
  executionCount: number | null;
}

/**
 * The agent's side of the dry run (AGENT_KERNEL_FORK_ROUTES, agent-api.ts):
 * fork the notebook's kernel, run code there, discard the fork — over the
 * gateway's HTTP API with the run's agent token. Nothing here touches the
 * live kernel or the document.
 */
export class KernelForkClient {
  constructor(
    /** http(s)://gateway */
    private readonly gatewayBase: string,
    private readonly token: string,
  ) {}

  async fork(notebookId: string, label: string): Promise<ForkKernelResponse> {
    const body: CreateKernelForkRequest = { label };
    const res = await this.call('POST', AGENT_KERNEL_FORK_ROUTES.forks(notebookId), body);
    return (await res.json()) as ForkKernelResponse;
  }

  /** Runs code in the fork; outputs in notebook form, as the truncation rules read them. */
  async run(notebookId: string, forkId: string, code: string, signal?: AbortSignal): Promise<ForkRunResult> {
    const body: ForkExecuteRequest = { code };
    const res = await this.call('POST', AGENT_KERNEL_FORK_ROUTES.execute(notebookId, forkId), body, signal);
    const outputs: NotebookOutput[] = [];
    let reply: Extract<ExecuteStreamLine, { type: 'reply' }> | undefined;
    let buf = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!text) continue;
        const line = JSON.parse(text) as ExecuteStreamLine;
        if (line.type === 'iopub') {
          const o = toOutput(line.msgType, line.content, line.metadata);
          if (o) outputs.push(o);
        } else if (line.type === 'reply') reply = line;
        else if (line.type === 'error') {
          if (line.code === 'kernel.unavailable' || line.code === 'kernel.not_found')
            return { outputs, status: 'kernel_died', ms: 0, executionCount: null };
          throw new KernelForkError(500, line.code, line.message);
        }
        // input_request: a dry run answers no input(); the host's cap ends such a cell.
      }
    }
    if (!reply) return { outputs, status: 'kernel_died', ms: 0, executionCount: null };
    return {
      outputs,
      status: reply.capped ? 'interrupted' : reply.content.status,
      ms: reply.ms,
      executionCount: reply.content.execution_count,
    };
  }

  async discard(notebookId: string, forkId: string): Promise<void> {
    await this.call('DELETE', AGENT_KERNEL_FORK_ROUTES.fork(notebookId, forkId));
  }

  private async call(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.gatewayBase.replace(/\/$/, '')}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new KernelForkError(
        0,
        'gateway.unreachable',
        `the gateway is not reachable: ${(err as Error).message}`,
      );
    }
    if (res.ok) return res;
    const p = (await res.json().catch(() => ({}))) as { code?: string; detail?: string };
    throw new KernelForkError(
      res.status,
      p.code ?? `http.${res.status}`,
      p.detail ?? `the gateway answered ${res.status} to ${method} ${path}`,
    );
  }
}

function toOutput(
  msgType: string,
  content: Record<string, unknown>,
  metadata: Record<string, unknown>,
): NotebookOutput | null {
  const data = (content.data ?? {}) as Record<string, unknown>;
  switch (msgType) {
    case 'stream':
      return {
        output_type: 'stream',
        name: content.name === 'stderr' ? 'stderr' : 'stdout',
        text: String(content.text ?? ''),
      };
    case 'execute_result':
      return {
        output_type: 'execute_result',
        data,
        metadata,
        execution_count: (content.execution_count as number | null | undefined) ?? null,
      };
    case 'display_data':
      return { output_type: 'display_data', data, metadata };
    case 'error':
      return {
        output_type: 'error',
        ename: String(content.ename ?? ''),
        evalue: String(content.evalue ?? ''),
        traceback: (content.traceback as string[] | undefined) ?? [],
      };
    default:
      return null;
  }
}
