import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';

/**
 * One error taxonomy for every service. Each kind has a stable code, an HTTP
 * status (problem+json) and a WebSocket close code. `message` is what clients
 * see; `cause` is internal and only logged.
 */
export const ERROR_KINDS = {
  validation: { status: 400, wsClose: 1007, title: 'Invalid request' },
  unauthorized: { status: 401, wsClose: 4401, title: 'Not signed in' },
  forbidden: { status: 403, wsClose: 4403, title: 'Forbidden' },
  not_found: { status: 404, wsClose: 4404, title: 'Not found' },
  conflict: { status: 409, wsClose: 4409, title: 'Conflict' },
  too_large: { status: 413, wsClose: 1009, title: 'Too large' },
  quota_exceeded: { status: 429, wsClose: 4429, title: 'Quota exceeded' },
  unavailable: { status: 503, wsClose: 1013, title: 'Temporarily unavailable' },
  internal: { status: 500, wsClose: 1011, title: 'Internal error' },
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

export class QuireError extends Error {
  constructor(
    readonly kind: ErrorKind,
    /** Safe to show to the client. */
    message: string,
    /** Stable, machine-readable, e.g. `notebook.too_large`. */
    readonly code: string = kind,
    readonly internalCause?: unknown,
  ) {
    super(message);
    this.name = 'QuireError';
  }

  get status(): number {
    return ERROR_KINDS[this.kind].status;
  }

  get wsCloseCode(): number {
    return ERROR_KINDS[this.kind].wsClose;
  }
}

export interface ProblemJson {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
}

export function toProblem(err: unknown, instance?: string): ProblemJson {
  if (err instanceof QuireError) {
    return {
      type: `https://quire.dev/problems/${err.code}`,
      title: ERROR_KINDS[err.kind].title,
      status: err.status,
      detail: err.message,
      code: err.code,
      ...(instance ? { instance } : {}),
    };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const kind = (Object.entries(ERROR_KINDS).find(([, v]) => v.status === status)?.[0] ??
      'internal') as ErrorKind;
    return {
      type: `https://quire.dev/problems/${kind}`,
      title: ERROR_KINDS[kind].title,
      status,
      detail: err.message,
      code: kind,
      ...(instance ? { instance } : {}),
    };
  }
  return {
    type: 'https://quire.dev/problems/internal',
    title: 'Internal error',
    status: 500,
    detail: 'Something went wrong on our side.',
    code: 'internal',
    ...(instance ? { instance } : {}),
  };
}

@Catch()
export class ProblemJsonFilter implements ExceptionFilter {
  constructor(private readonly onInternal: (err: unknown) => void = () => {}) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const res = http.getResponse<Response>();
    const req = http.getRequest<{ url?: string }>();
    const problem = toProblem(err, req.url);
    if (problem.status >= 500) this.onInternal(err);
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
  }
}
