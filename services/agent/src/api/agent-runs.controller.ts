import {
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Injectable,
  Param,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import {
  AGENT_CALLER_HEADERS,
  AgentReviewRequest,
  InternalStartAgentRunRequest,
  type AgentRunDto,
  type AgentRunStreamEvent,
  type NotebookRole,
} from '@quire/contracts';
import { assertInternalToken, parseInput, QuireError } from '@quire/service-kit';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { AGENT_CONFIG, type AgentConfig } from '../config';
import { RuntimeHost } from '../runtime/runtime-host';
import type { AgentCaller } from './agent-runs.service';

/** Only holders of QUIRE_INTERNAL_TOKEN (the gateway) reach the internal API. */
@Injectable()
export class InternalTokenGuard implements CanActivate {
  constructor(@Inject(AGENT_CONFIG) private readonly cfg: AgentConfig) {}

  canActivate(ctx: ExecutionContext): boolean {
    assertInternalToken(
      ctx.switchToHttp().getRequest<Request>().headers.authorization,
      this.cfg.QUIRE_INTERNAL_TOKEN,
    );
    return true;
  }
}

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  return parseInput(schema, input, 'agent.invalid_request');
}

const callerSchema = z.object({
  userId: z.string().min(1).max(128),
  userName: z.string().min(1).max(400),
  orgId: z.string().min(1).max(128),
  role: z.enum(['owner', 'editor', 'runner', 'viewer']),
  kernelId: z.string().min(1).max(128).nullable(),
  notebookId: z.string().min(1).max(128).nullable(),
});

export function callerOf(req: Request): AgentCaller {
  const h = (name: string): string | null => {
    const v = req.headers[name];
    return typeof v === 'string' && v.length ? v : null;
  };
  let userName = h(AGENT_CALLER_HEADERS.userName);
  try {
    userName = userName === null ? null : decodeURIComponent(userName);
  } catch {
    throw new QuireError(
      'validation',
      'the user name header is not percent-encoded UTF-8',
      'agent.invalid_request',
    );
  }
  const parsed = callerSchema.safeParse({
    userId: h(AGENT_CALLER_HEADERS.userId),
    userName,
    orgId: h(AGENT_CALLER_HEADERS.orgId),
    role: h(AGENT_CALLER_HEADERS.role),
    kernelId: h(AGENT_CALLER_HEADERS.kernelId),
    notebookId: h(AGENT_CALLER_HEADERS.notebookId),
  });
  if (!parsed.success)
    throw new QuireError(
      'validation',
      `caller headers: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      'agent.invalid_caller',
    );
  return { ...parsed.data, role: parsed.data.role as NotebookRole };
}

/** The agent service's internal API (AGENT_INTERNAL_ROUTES in contracts/src/api/agent-api.ts). */
@Controller('internal/agent-runs')
@UseGuards(InternalTokenGuard)
export class AgentRunsController {
  constructor(@Inject(RuntimeHost) private readonly host: RuntimeHost) {}

  @Post()
  @HttpCode(201)
  start(@Req() req: Request, @Body() body: unknown): Promise<AgentRunDto> {
    return this.host.runs.start(callerOf(req), parse(InternalStartAgentRunRequest, body ?? {}));
  }

  @Get()
  async list(
    @Req() req: Request,
    @Query('notebookId') notebookId: string | undefined,
  ): Promise<{ runs: AgentRunDto[] }> {
    if (!notebookId) throw new QuireError('validation', 'notebookId is required', 'agent.invalid_request');
    return { runs: await this.host.runs.list(callerOf(req), notebookId) };
  }

  @Get(':runId')
  get(@Req() req: Request, @Param('runId') runId: string): Promise<AgentRunDto> {
    return this.host.runs.get(callerOf(req), runId);
  }

  @Post(':runId/stop')
  @HttpCode(200)
  stop(@Req() req: Request, @Param('runId') runId: string): Promise<AgentRunDto> {
    return this.host.runs.stop(callerOf(req), runId);
  }

  @Post(':runId/review')
  @HttpCode(200)
  review(@Req() req: Request, @Param('runId') runId: string, @Body() body: unknown): Promise<AgentRunDto> {
    return this.host.runs.review(callerOf(req), runId, parse(AgentReviewRequest, body ?? {}));
  }

  @Post(':runId/undo')
  @HttpCode(200)
  undo(@Req() req: Request, @Param('runId') runId: string): Promise<AgentRunDto> {
    return this.host.runs.undo(callerOf(req), runId);
  }

  /**
   * Server-Sent Events of one run: `run` (whenever its status, changes or
   * usage change), `token` (streamed model text, best effort), `step` (id
   * `step-<n>`; Last-Event-ID resumes after it), `finished` (then the stream ends).
   */
  @Get(':runId/events')
  async events(@Req() req: Request, @Res() res: Response, @Param('runId') runId: string): Promise<void> {
    const caller = callerOf(req);
    let run = await this.host.runs.get(caller, runId);
    const resume = /^step-(\d+)$/.exec(String(req.headers['last-event-id'] ?? ''));
    let lastStep = resume ? Number(resume[1]) : 0;
    res.status(200);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache, no-transform');
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    const send = (e: AgentRunStreamEvent, id?: string) =>
      res.write(`${id ? `id: ${id}\n` : ''}event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    let closed = false;
    const bus = this.host.runtime.bus;
    const offToken = bus.onToken(runId, (step, text) => {
      if (!closed) send({ type: 'token', step, text });
    });
    let wake: () => void = () => undefined;
    const offChanged = bus.onChanged(runId, () => wake());
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.on('close', () => {
      closed = true;
      wake();
    });
    const shape = (r: AgentRunDto) => JSON.stringify([r.status, r.changes, r.usage, r.undone, r.finishedAt]);
    let lastShape = '';
    try {
      while (!closed) {
        for (const step of run.steps.filter((s) => s.step > lastStep)) {
          send({ type: 'step', step }, `step-${step.step}`);
          lastStep = step.step;
        }
        if (shape(run) !== lastShape) {
          lastShape = shape(run);
          send({ type: 'run', run });
        }
        if (run.finishedAt) {
          send({ type: 'finished', run });
          break;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 500);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        if (!closed) run = await this.host.runs.get(caller, runId);
      }
    } finally {
      clearInterval(keepAlive);
      offToken();
      offChanged();
      res.end();
    }
  }
}
