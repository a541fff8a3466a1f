import { Body, Controller, Delete, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import {
  agentRunOfForkKernel,
  CreateKernelForkRequest,
  ForkExecuteRequest,
  forkKernelIdOf,
  type ExecuteStreamLine,
  type ForkKernelResponse,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { Response } from 'express';
import { accessOf, type AccessRequest } from '../auth/access.guard';
import { parseBody } from '../auth/parse';
import { HostWorkerClient } from '../kernels/host-worker.client';
import { KERNEL_PROVIDER, type KernelProvider, type KernelTarget } from '../kernels/kernel-provider';
import { forkOnHost } from './host-fork';

/**
 * The agent's dry run (AGENT_KERNEL_FORK_ROUTES in agent-api.ts): forks of a
 * notebook's live kernel, for agent tokens only (route table kind
 * `agent-run`). A fork lives on its parent's host; the gateway keeps no
 * state about it — each call finds the parent's host again, so any gateway
 * instance serves any call. A run reaches only forks named after it.
 */
@Controller('api/notebooks/:id/kernel/forks')
export class KernelForkController {
  constructor(@Inject(KERNEL_PROVIDER) private readonly provider: KernelProvider) {}

  @Post()
  @HttpCode(201)
  async create(@Req() req: AccessRequest, @Body() body: unknown): Promise<ForkKernelResponse> {
    const { label } = parseBody(CreateKernelForkRequest, body ?? {});
    const { target, runId } = this.targetOf(req);
    const running = await this.provider.ensureRunning(target, 'agent', () => undefined);
    return forkOnHost(running.hostApiUrl, target.kernelId, forkKernelIdOf(runId, label));
  }

  @Post(':forkId/execute')
  async execute(
    @Req() req: AccessRequest,
    @Param('forkId') forkId: string,
    @Body() body: unknown,
    @Res() res: Response,
  ): Promise<void> {
    const { code } = parseBody(ForkExecuteRequest, body ?? {});
    const host = await this.hostOfFork(req, forkId);
    if (!host)
      throw new QuireError(
        'not_found',
        `fork ${forkId} is gone: the notebook's kernel stopped or moved; fork it again`,
        'kernel_fork.gone',
      );
    res.status(200).type('application/x-ndjson');
    res.flushHeaders();
    const line = (l: ExecuteStreamLine) => void res.write(`${JSON.stringify(l)}\n`);
    try {
      await host.execute(forkId, { code, origin: 'agent' }, line);
    } catch (err) {
      const e = err instanceof QuireError ? err : undefined;
      line({ type: 'error', code: e?.code ?? 'kernel.unavailable', message: (err as Error).message });
    } finally {
      res.end();
    }
  }

  @Delete(':forkId')
  @HttpCode(204)
  async discard(@Req() req: AccessRequest, @Param('forkId') forkId: string): Promise<void> {
    await (await this.hostOfFork(req, forkId))?.terminate(forkId);
  }

  private targetOf(req: AccessRequest): { target: KernelTarget; runId: string } {
    const { principal, notebook } = accessOf(req);
    if (!principal.agentRunId || !notebook)
      throw new QuireError('forbidden', 'kernel forks are for agent runs only', 'access.denied');
    return {
      target: {
        kernelId: notebook.kernelId,
        notebookId: notebook.id,
        tenant: notebook.orgId,
        userId: principal.userId,
      },
      runId: principal.agentRunId,
    };
  }

  /** The host the fork runs on (its parent's), after checking it is this run's fork; null when the parent is not running. */
  private async hostOfFork(req: AccessRequest, forkId: string): Promise<HostWorkerClient | null> {
    const { target, runId } = this.targetOf(req);
    if (agentRunOfForkKernel(forkId) !== runId)
      throw new QuireError('forbidden', `fork ${forkId} does not belong to this agent run`, 'access.denied');
    const url = this.provider.locate
      ? await this.provider.locate(target)
      : (await this.provider.ensureRunning(target, 'agent', () => undefined)).hostApiUrl;
    return url ? new HostWorkerClient(url) : null;
  }
}
