import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { AgentReviewRequest, StartAgentRunRequest, type AgentRunDto } from '@quire/contracts';
import { JsonLogger, SERVICE_LOGGER } from '@quire/service-kit';
import type { Response } from 'express';
import { accessOf, type AccessRequest } from '../auth/access.guard';
import { parseBody } from '../auth/parse';
import { AgentServiceClient, type AgentCaller } from './agent-service.client';

/**
 * Agent mode's public API (agent-api.ts). Who may call what is in the route
 * table (access-rules.ts: editors and owners start, stop, review and undo;
 * everyone the notebook is shared with lists and watches); this controller
 * validates bodies and forwards to the agent service as the caller.
 */
@Controller('api/notebooks/:id/agent-runs')
export class AgentRunsController {
  constructor(
    @Inject(AgentServiceClient) private readonly agent: AgentServiceClient,
    @Inject(SERVICE_LOGGER) private readonly log: JsonLogger,
  ) {}

  @Post()
  @HttpCode(201)
  async start(@Req() req: AccessRequest, @Body() body: unknown): Promise<AgentRunDto> {
    const parsed = parseBody(StartAgentRunRequest, body ?? {});
    const caller = callerOf(req);
    return this.agent.start(caller, { ...parsed, notebookId: caller.notebookId });
  }

  @Get()
  list(@Req() req: AccessRequest): Promise<{ runs: AgentRunDto[] }> {
    return this.agent.list(callerOf(req));
  }

  @Get(':runId')
  get(@Req() req: AccessRequest, @Param('runId') runId: string): Promise<AgentRunDto> {
    return this.agent.get(callerOf(req), runId);
  }

  @Post(':runId/stop')
  @HttpCode(200)
  stop(@Req() req: AccessRequest, @Param('runId') runId: string): Promise<AgentRunDto> {
    return this.agent.act(callerOf(req), runId, 'stop');
  }

  @Post(':runId/review')
  @HttpCode(200)
  review(
    @Req() req: AccessRequest,
    @Param('runId') runId: string,
    @Body() body: unknown,
  ): Promise<AgentRunDto> {
    return this.agent.act(callerOf(req), runId, 'review', parseBody(AgentReviewRequest, body ?? {}));
  }

  @Post(':runId/undo')
  @HttpCode(200)
  undo(@Req() req: AccessRequest, @Param('runId') runId: string): Promise<AgentRunDto> {
    return this.agent.act(callerOf(req), runId, 'undo');
  }

  /**
   * The run's Server-Sent Events, piped as they arrive (never buffered): every
   * collaborator watching the run opens the same stream. Closing the browser's
   * request ends the upstream one.
   */
  @Get(':runId/events')
  async events(
    @Req() req: AccessRequest,
    @Res() res: Response,
    @Param('runId') runId: string,
  ): Promise<void> {
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    const lastEventId = req.headers['last-event-id'];
    const upstream = await this.agent.events(
      callerOf(req),
      runId,
      gone.signal,
      typeof lastEventId === 'string' ? lastEventId : undefined,
    );
    res.status(200);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache, no-transform');
    res.setHeader('connection', 'keep-alive');
    // Reverse proxies (nginx) must not hold events back either.
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    const body = Readable.fromWeb(upstream.body as WebReadableStream<Uint8Array>);
    body.on('error', (err) => {
      if (!gone.signal.aborted) this.log.warn('agent event stream broke', { runId, err: String(err) });
      res.end();
    });
    body.pipe(res);
  }
}

function callerOf(req: AccessRequest): AgentCaller {
  const { principal, notebook, role } = accessOf(req);
  return {
    userId: principal.userId,
    userName: principal.name,
    orgId: principal.orgId,
    role: role!,
    notebookId: notebook!.id,
    kernelId: notebook!.kernelId,
  };
}
