import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Req } from '@nestjs/common';
import { uuidv7 } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { z } from 'zod';
import { accessOf, type AccessRequest } from '../auth/access.guard';
import { parseBody } from '../auth/parse';
import type { Principal } from '../auth/principal';
import { KernelSessions } from '../kernels/kernel-sessions';
import { JupyterRepository, type JupyterKernelRow, type JupyterSessionRow } from './jupyter.repository';

const KERNEL_NAME = 'python3';

const StartKernel = z
  .object({ name: z.string().max(100).optional(), path: z.string().max(1000).optional() })
  .passthrough();
const CreateSession = z
  .object({
    path: z.string().max(1000).default(''),
    name: z.string().max(1000).default(''),
    type: z.string().max(100).default('notebook'),
    kernel: z.object({ id: z.string().max(128).optional(), name: z.string().max(100).optional() }).optional(),
  })
  .passthrough();
const PatchSession = z
  .object({
    path: z.string().max(1000).optional(),
    name: z.string().max(1000).optional(),
    type: z.string().max(100).optional(),
    kernel: z.object({ id: z.string().max(128).optional(), name: z.string().max(100).optional() }).optional(),
  })
  .passthrough();

/**
 * Jupyter Server's REST API for kernels, kernelspecs and sessions, so
 * JupyterLab, VS Code and `@jupyterlab/services` can use Quire kernels. The
 * kernels are Quire kernels (sandboxed, hibernating); auth is the user token
 * as `Authorization: token …` or `?token=`.
 */
@Controller('api')
export class JupyterApiController {
  constructor(
    @Inject(JupyterRepository) private readonly repo: JupyterRepository,
    @Inject(KernelSessions) private readonly sessions: KernelSessions,
  ) {}

  @Get()
  version() {
    return { version: '2.14.0' };
  }

  @Get('status')
  status() {
    return {
      started: new Date().toISOString(),
      last_activity: new Date().toISOString(),
      connections: 0,
      kernels: 0,
    };
  }

  @Get('kernelspecs')
  kernelspecs() {
    return {
      default: KERNEL_NAME,
      kernelspecs: {
        [KERNEL_NAME]: {
          name: KERNEL_NAME,
          spec: {
            argv: [],
            display_name: 'Python 3 (Quire)',
            language: 'python',
            interrupt_mode: 'signal',
            env: {},
            metadata: {},
          },
          resources: {},
        },
      },
    };
  }

  @Get('kernels')
  async kernels(@Req() req: AccessRequest) {
    const { principal } = accessOf(req);
    return (await this.repo.kernelsOf(principal.orgId, principal.userId)).map((k) => this.model(k));
  }

  @Post('kernels')
  @HttpCode(201)
  async startKernel(@Req() req: AccessRequest, @Body() body: unknown) {
    parseBody(StartKernel, body ?? {});
    return this.model(await this.start(accessOf(req).principal));
  }

  @Get('kernels/:id')
  async kernel(@Param('id') id: string) {
    return this.model((await this.repo.kernel(id))!);
  }

  @Delete('kernels/:id')
  @HttpCode(204)
  async shutdown(@Req() req: AccessRequest, @Param('id') id: string): Promise<void> {
    await this.sessionOf(accessOf(req).principal, id).terminate(
      accessOf(req).principal.userId,
      'shutdown',
      'Jupyter API shutdown',
    );
    await this.repo.deleteKernel(id);
  }

  @Post('kernels/:id/interrupt')
  @HttpCode(204)
  async interrupt(@Req() req: AccessRequest, @Param('id') id: string): Promise<void> {
    await this.sessionOf(accessOf(req).principal, id).interrupt(accessOf(req).principal.userId);
  }

  @Post('kernels/:id/restart')
  @HttpCode(200)
  async restart(@Req() req: AccessRequest, @Param('id') id: string) {
    const { principal } = accessOf(req);
    await this.sessionOf(principal, id).terminate(principal.userId, 'restart', 'Jupyter API restart');
    return this.model((await this.repo.kernel(id))!);
  }

  @Get('sessions')
  async listSessions(@Req() req: AccessRequest) {
    const { principal } = accessOf(req);
    const rows = await this.repo.sessionsOf(principal.orgId, principal.userId);
    return Promise.all(rows.map((s) => this.sessionModel(s)));
  }

  @Post('sessions')
  @HttpCode(201)
  async createSession(@Req() req: AccessRequest, @Body() body: unknown) {
    const { principal } = accessOf(req);
    const b = parseBody(CreateSession, body ?? {});
    const kernel = await this.kernelFor(principal, b.kernel?.id);
    const row = await this.repo.insertSession({
      id: uuidv7(),
      kernelId: kernel.id,
      orgId: principal.orgId,
      userId: principal.userId,
      path: b.path,
      name: b.name,
      type: b.type,
    });
    return this.sessionModel(row);
  }

  @Get('sessions/:id')
  async getSession(@Param('id') id: string) {
    return this.sessionModel((await this.repo.session(id))!);
  }

  @Patch('sessions/:id')
  async patchSession(@Req() req: AccessRequest, @Param('id') id: string, @Body() body: unknown) {
    const { principal } = accessOf(req);
    const b = parseBody(PatchSession, body ?? {});
    const kernelId = b.kernel ? (await this.kernelFor(principal, b.kernel.id)).id : undefined;
    await this.repo.updateSession(id, {
      ...(b.path !== undefined ? { path: b.path } : {}),
      ...(b.name !== undefined ? { name: b.name } : {}),
      ...(b.type !== undefined ? { type: b.type } : {}),
      ...(kernelId ? { kernelId } : {}),
    });
    return this.sessionModel((await this.repo.session(id))!);
  }

  @Delete('sessions/:id')
  @HttpCode(204)
  async deleteSession(@Req() req: AccessRequest, @Param('id') id: string): Promise<void> {
    const { principal } = accessOf(req);
    const s = (await this.repo.session(id))!;
    await this.sessionOf(principal, s.kernelId).terminate(
      principal.userId,
      'shutdown',
      'Jupyter session deleted',
    );
    await this.repo.deleteKernel(s.kernelId);
  }

  private async kernelFor(principal: Principal, id: string | undefined): Promise<JupyterKernelRow> {
    if (!id) return this.start(principal);
    const k = await this.repo.kernel(id);
    if (!k || k.orgId !== principal.orgId || k.userId !== principal.userId)
      throw new QuireError('not_found', `no kernel ${id}`, 'jupyter.not_found');
    return k;
  }

  private async start(principal: Principal): Promise<JupyterKernelRow> {
    const row = await this.repo.insertKernel({
      id: `jk-${uuidv7()}`,
      orgId: principal.orgId,
      userId: principal.userId,
      name: KERNEL_NAME,
    });
    try {
      await this.sessionOf(principal, row.id).open(principal.userId, 'jupyter-api');
    } catch (err) {
      await this.repo.deleteKernel(row.id);
      throw err;
    }
    return row;
  }

  private sessionOf(principal: Principal, kernelId: string) {
    return this.sessions.session({
      kernelId,
      notebookId: `jupyter-${kernelId}`,
      tenant: principal.orgId,
      userId: principal.userId,
    });
  }

  private model(k: JupyterKernelRow) {
    const s = this.sessions.existing(k.id);
    const state = s?.kernelStatus.state;
    return {
      id: k.id,
      name: k.name,
      last_activity: new Date(s?.lastUsed ?? Date.parse(k.createdAt)).toISOString(),
      execution_state:
        state === 'busy'
          ? 'busy'
          : state === 'dead'
            ? 'dead'
            : state === 'starting' || state === 'restoring'
              ? 'starting'
              : 'idle',
      connections: s?.listenerCount ?? 0,
    };
  }

  private async sessionModel(s: JupyterSessionRow) {
    const k = await this.repo.kernel(s.kernelId);
    return {
      id: s.id,
      path: s.path,
      name: s.name,
      type: s.type,
      notebook: { path: s.path, name: s.name },
      kernel: k ? this.model(k) : null,
    };
  }
}
