import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Res } from '@nestjs/common';
import { QuireError } from '@quire/service-kit';
import type { Response } from 'express';
import {
  ExecuteRequest,
  ForkKernelRequest,
  InputReply,
  RestoreRequest,
  StartKernelRequest,
  type ExecuteStreamLine,
  type ListKernelsResponse,
  KernelShellRequest,
} from '@quire/contracts';
import { z } from 'zod';
import { KernelHost } from '../kernels/kernel-host';
import type { JupyterMessage } from '../jupyter/messages';

/**
 * The host worker's internal API, for the gateway and the lifecycle
 * activities (never exposed to users). `execute` streams NDJSON: one line per
 * IOPub message as it arrives, `input_request` lines for `input()`, and a
 * final `reply` line.
 */
const warmPoolBody = z.object({ target: z.number().int().min(0).max(64) });

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success)
    throw new QuireError(
      'validation',
      r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      'request.invalid',
    );
  return r.data;
}

@Controller('internal/kernels')
export class KernelsController {
  private readonly pendingInput = new Map<string, (value: string) => void>();

  constructor(@Inject(KernelHost) private readonly host: KernelHost) {}

  @Get()
  list(): ListKernelsResponse {
    return { kernels: this.host.list() };
  }

  /** The pool's size and counters (hits, misses, boots…). */
  @Get('/warm-pool')
  warmPool() {
    return this.host.warmPoolStats() ?? { target: 0, ready: 0, disabled: true };
  }

  /** Resize the pool (the lifecycle's autoscaler). */
  @Post('/warm-pool')
  async setWarmPool(@Body() body: unknown) {
    await this.host.setWarmPoolTarget(parse(warmPoolBody, body).target);
    return this.host.warmPoolStats();
  }

  @Post()
  async start(@Body() body: unknown) {
    return this.host.start(parse(StartKernelRequest, body));
  }

  @Post(':kernelId/execute')
  async execute(
    @Param('kernelId') kernelId: string,
    @Body() body: unknown,
    @Res() res: Response,
  ): Promise<void> {
    const req = parse(ExecuteRequest, body);
    res.status(200).type('application/x-ndjson');
    res.flushHeaders();
    const line = (obj: ExecuteStreamLine) => res.write(`${JSON.stringify(obj)}\n`);
    try {
      const result = await this.host.execute(kernelId, req.code, {
        origin: req.origin,
        ...(req.executionId ? { executionId: req.executionId } : {}),
        onIopub: (m: JupyterMessage) =>
          line({ type: 'iopub', msgType: m.header.msg_type, content: m.content, metadata: m.metadata }),
        onInput: (prompt, password) =>
          new Promise<string>((resolve) => {
            this.pendingInput.set(kernelId, resolve);
            line({ type: 'input_request', prompt, password });
          }),
      });
      line({ type: 'reply', content: result.reply, ms: result.ms, capped: result.capped });
    } catch (err) {
      const e =
        err instanceof QuireError
          ? err
          : new QuireError('unavailable', (err as Error).message, 'kernel.unavailable');
      line({ type: 'error', code: e.code, message: e.message });
    } finally {
      this.pendingInput.delete(kernelId);
      res.end();
    }
  }

  @Post(':kernelId/input')
  @HttpCode(204)
  input(@Param('kernelId') kernelId: string, @Body() body: unknown): void {
    const { value } = parse(InputReply, body);
    const answer = this.pendingInput.get(kernelId);
    if (!answer)
      throw new QuireError('conflict', 'the kernel is not waiting for input', 'kernel.no_input_request');
    this.pendingInput.delete(kernelId);
    answer(value);
  }

  @Post(':kernelId/interrupt')
  async interrupt(@Param('kernelId') kernelId: string) {
    return { result: await this.host.interrupt(kernelId) };
  }

  @Post(':kernelId/snapshot')
  async snapshot(@Param('kernelId') kernelId: string) {
    return this.host.snapshot(kernelId, 'hibernate');
  }

  @Post(':kernelId/restore')
  async restore(@Param('kernelId') kernelId: string, @Body() body: unknown) {
    const { snapshotId } = parse(RestoreRequest, body);
    return this.host.restore(kernelId, snapshotId);
  }

  /** Completion, inspection, is_complete, history, comm_info: the kernel answers, no execute queue. */
  @Post(':kernelId/request')
  @HttpCode(200)
  async shellRequest(@Param('kernelId') kernelId: string, @Body() body: unknown) {
    const { msgType, content } = parse(KernelShellRequest, body);
    return this.host.shellRequest(kernelId, msgType, content);
  }

  /** A new kernel from a fresh checkpoint of this one (the agent's dry run); DELETE it to discard. */
  @Post(':kernelId/fork')
  async fork(@Param('kernelId') kernelId: string, @Body() body: unknown) {
    return this.host.fork(kernelId, parse(ForkKernelRequest, body).forkKernelId);
  }

  @Delete(':kernelId')
  @HttpCode(204)
  async terminate(@Param('kernelId') kernelId: string): Promise<void> {
    await this.host.terminate(kernelId);
  }
}
