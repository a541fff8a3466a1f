import type { ForkKernelRequest, ForkKernelResponse } from '@quire/contracts';
import { QuireError, type ErrorKind } from '@quire/service-kit';

/** `POST /internal/kernels/:id/fork` on the parent's host (host-worker-api.ts); its refusals pass through. */
export async function forkOnHost(
  hostApiUrl: string,
  parentKernelId: string,
  forkKernelId: string,
): Promise<ForkKernelResponse> {
  const body: ForkKernelRequest = { forkKernelId };
  let res: Response;
  try {
    res = await fetch(
      `${hostApiUrl.replace(/\/$/, '')}/internal/kernels/${encodeURIComponent(parentKernelId)}/fork`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
    );
  } catch (err) {
    throw new QuireError(
      'unavailable',
      `the kernel host is not reachable (${hostApiUrl})`,
      'kernel.host_unreachable',
      err,
    );
  }
  const text = await res.text();
  const parsed = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  if (res.ok) return parsed as unknown as ForkKernelResponse;
  const kind: ErrorKind =
    res.status === 404
      ? 'not_found'
      : res.status === 409
        ? 'conflict'
        : res.status === 400
          ? 'validation'
          : 'unavailable';
  throw new QuireError(
    kind,
    typeof parsed.detail === 'string' ? parsed.detail : `the kernel host answered ${res.status} to a fork`,
    typeof parsed.code === 'string' ? parsed.code : 'kernel.fork_failed',
  );
}
