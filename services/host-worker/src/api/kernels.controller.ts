import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Res } from '@nestjs/common';
import { QuireError } from '@quire/service-kit';
import type { Response } from 'express';
import { z } from 'zod';
import { KernelHost } from '../kernels/kernel-host';
import type { JupyterMessage } from '../jupyter/messages';

/**
 * The host worker's internal API, for the gateway and the lifecycle
 * activities (never exposed to users). `execute` streams NDJSON: one line per
 * IOPub message as it arrives, `input_request` lines for `input()`, and a
 * final `reply` line.
 */
const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/);
const owner = { kernelId: id, tenant: id, notebookId: id, userId: id };
const limits = z
  .object({
    memoryBytes: z.number().int().positive(),
    cpus: z.number().positive(),
    pids: z.number().int().positive(),
    tmpBytes: z.number().int().positive(),
  })
  .partial();
const startBody = z.object({ ...owner, limits: limits.optional() });
const executeBody = z.object({
  code: z.string().max(1024 * 1024),
  executionId: id.optional(),
  origin: z.enum(['human', 'agent']).default('human'),
});
const restoreBody = z.object({ snapshotId: id });
const inputBody = z.object({ value: z.string().max(1024 * 1024) });

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
  list() {
    return { kernels: this.host.list() };
  }

  @Post()
  async start(@Body() body: unknown) {
    return this.host.start(parse(startBody, body));
  }

  @Post(':kernelId/execute')
  async execute(
    @Param('kernelId') kernelId: string,
    @Body() body: unknown,
    @Res() res: Response,
  ): Promise<void> {
    const req = parse(executeBody, body);
    res.status(200).type('application/x-ndjson');
    res.flushHeaders();
    const line = (obj: unknown) => res.write(`${JSON.stringify(obj)}\n`);
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
    const { value } = parse(inputBody, body);
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
    const { snapshotId } = parse(restoreBody, body);
    return this.host.restore(kernelId, snapshotId);
  }

  @Delete(':kernelId')
  @HttpCode(204)
  async terminate(@Param('kernelId') kernelId: string): Promise<void> {
    await this.host.terminate(kernelId);
  }
}
