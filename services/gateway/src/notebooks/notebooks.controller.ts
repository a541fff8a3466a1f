import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  CreateNotebookRequest,
  GATEWAY_ROUTES,
  PutSharesRequest,
  UpdateNotebookRequest,
  uuidv7,
  type AcceptLinkResponse,
  type ListNotebooksResponse,
  type NotebookRole,
  type NotebookSessionResponse,
  type NotebookSummary,
  type NotebookVersion,
  type SharesResponse,
  type VersionsResponse,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { Response } from 'express';
import { accessOf, type AccessRequest } from '../auth/access.guard';
import { parseBody } from '../auth/parse';
import { TokenService } from '../auth/tokens';
import { userColor, UsersRepository } from '../auth/users.repository';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config';
import { DocSyncClient } from '../docs/doc-sync.client';
import { OutputStore } from '../docs/output-store';
import { KernelSessions } from '../kernels/kernel-sessions';
import { publicOrigin } from '../web/public-origin';
import { NotebooksRepository, type NotebookRow } from './notebooks.repository';

@Controller('api')
export class NotebooksController {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly cfg: GatewayConfig,
    @Inject(NotebooksRepository) private readonly notebooks: NotebooksRepository,
    @Inject(UsersRepository) private readonly users: UsersRepository,
    @Inject(DocSyncClient) private readonly docs: DocSyncClient,
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(OutputStore) private readonly outputs: OutputStore,
    @Inject(KernelSessions) private readonly kernels: KernelSessions,
  ) {}

  @Get('notebooks')
  async list(@Req() req: AccessRequest): Promise<ListNotebooksResponse> {
    const { principal } = accessOf(req);
    const rows = await this.notebooks.listFor(principal.orgId, principal.userId);
    return { notebooks: rows.map((r) => summary(r, r.role)) };
  }

  @Post('notebooks')
  @HttpCode(201)
  async create(@Req() req: AccessRequest, @Body() body: unknown): Promise<NotebookSummary> {
    const { title } = parseBody(CreateNotebookRequest, body ?? {});
    return this.createNotebook(req, title, undefined);
  }

  @Post('notebooks/import')
  @HttpCode(201)
  async import(
    @Req() req: AccessRequest,
    @Body() body: unknown,
    @Query('title') title?: string,
  ): Promise<NotebookSummary> {
    const nb = body as { nbformat?: unknown; cells?: unknown; metadata?: { title?: unknown } } | undefined;
    if (!nb || typeof nb !== 'object' || nb.nbformat !== 4 || !Array.isArray(nb.cells))
      throw new QuireError(
        'validation',
        'the body must be an nbformat 4 notebook (JSON with nbformat: 4 and cells)',
        'notebook.bad_ipynb',
      );
    const name = (
      title ?? (typeof nb.metadata?.title === 'string' ? nb.metadata.title : 'Imported notebook')
    ).slice(0, 200);
    return this.createNotebook(req, name || 'Imported notebook', nb);
  }

  @Get('notebooks/:id')
  get(@Req() req: AccessRequest): NotebookSummary {
    const a = accessOf(req);
    return summary(a.notebook!, a.role!);
  }

  @Patch('notebooks/:id')
  async rename(@Req() req: AccessRequest, @Body() body: unknown): Promise<NotebookSummary> {
    const a = accessOf(req);
    const { title } = parseBody(UpdateNotebookRequest, body);
    return summary(await this.notebooks.rename(a.notebook!.id, title), a.role!);
  }

  @Delete('notebooks/:id')
  @HttpCode(204)
  async delete(@Req() req: AccessRequest): Promise<void> {
    const nb = accessOf(req).notebook!;
    await this.kernels.shutdown(nb.kernelId, 'notebook deleted');
    await this.docs.delete(nb.id, nb.orgId).catch((err: unknown) => {
      // Already gone on doc-sync is fine: the metadata row is what makes it reachable.
      if (!(err instanceof QuireError && err.kind === 'not_found')) throw err;
    });
    await this.notebooks.delete(nb.id);
  }

  @Get('notebooks/:id/export')
  async export(@Req() req: AccessRequest, @Res() res: Response): Promise<void> {
    const nb = accessOf(req).notebook!;
    const ipynb = await this.docs.exportIpynb(nb.id, nb.orgId);
    const file = `${nb.title.replace(/[^\w.-]+/g, '_') || 'notebook'}.ipynb`;
    res
      .status(200)
      .type('application/x-ipynb+json')
      .setHeader('content-disposition', `attachment; filename="${file}"`);
    res.send(JSON.stringify(ipynb, null, 1));
  }

  @Get('notebooks/:id/session')
  async session(@Req() req: AccessRequest): Promise<NotebookSessionResponse> {
    const a = accessOf(req);
    const nb = a.notebook!;
    const { token, exp } = await this.tokens.mintDoc({
      sub: a.principal.userId,
      org: nb.orgId,
      name: a.principal.name,
      nb: nb.id,
      role: a.role!,
    });
    const docBase = (this.cfg.QUIRE_DOC_SYNC_PUBLIC_URL ?? this.cfg.QUIRE_DOC_SYNC_URL)
      .replace(/^http/, 'ws')
      .replace(/\/$/, '');
    const origin = publicOrigin(this.cfg, req);
    return {
      role: a.role!,
      docUrl: `${docBase}/notebooks/${encodeURIComponent(nb.id)}`,
      docToken: token,
      docTokenExpiresAt: new Date(exp * 1000).toISOString(),
      kernelChannelUrl: `${origin.replace(/^http/, 'ws')}${GATEWAY_ROUTES.kernelChannel(nb.id)}`,
      user: { id: a.principal.userId, name: a.principal.name, color: userColor(a.principal.userId) },
    };
  }

  @Get('notebooks/:id/shares')
  async shares(@Req() req: AccessRequest): Promise<SharesResponse> {
    return this.sharesOf(accessOf(req).notebook!, req);
  }

  @Put('notebooks/:id/shares')
  async putShares(@Req() req: AccessRequest, @Body() body: unknown): Promise<SharesResponse> {
    const nb = accessOf(req).notebook!;
    const put = parseBody(PutSharesRequest, body);
    const found = await this.users.findInOrg(
      nb.orgId,
      put.shares.map((s) => s.email),
    );
    const missing = put.shares.filter((s) => !found.some((u) => u.email === s.email));
    if (missing.length)
      throw new QuireError(
        'validation',
        `not in this organisation: ${missing.map((m) => m.email).join(', ')}`,
        'share.unknown_user',
      );
    const members = put.shares.map((s) => ({
      userId: found.find((u) => u.email === s.email)!.id,
      role: s.role,
    }));
    const updated = await this.notebooks.replaceShares(nb, members, put.link);
    return this.sharesOf(updated, req);
  }

  @Post('links/:token/accept')
  @HttpCode(200)
  async acceptLink(@Req() req: AccessRequest, @Param('token') token: string): Promise<AcceptLinkResponse> {
    const { principal } = accessOf(req);
    const nb = await this.notebooks.byLinkToken(token);
    if (!nb) throw new QuireError('not_found', 'this link is not valid (any more)', 'share.link_invalid');
    if (nb.orgId !== principal.orgId)
      throw new QuireError('forbidden', 'this link is for another organisation', 'access.other_org');
    const current = await this.notebooks.roleOf(nb, principal.userId);
    if (current !== 'owner')
      await this.notebooks.grant(nb.id, principal.userId, nb.linkAccess === 'edit' ? 'editor' : 'viewer');
    return { notebookId: nb.id, role: (await this.notebooks.roleOf(nb, principal.userId))! };
  }

  @Get('notebooks/:id/versions')
  async versions(@Req() req: AccessRequest): Promise<VersionsResponse> {
    const nb = accessOf(req).notebook!;
    return { versions: await this.docs.versions(nb.id, nb.orgId) };
  }

  @Post('notebooks/:id/versions/:versionId/restore')
  @HttpCode(200)
  async restore(@Req() req: AccessRequest, @Param('versionId') versionId: string): Promise<NotebookVersion> {
    const nb = accessOf(req).notebook!;
    return this.docs.restore(nb.id, nb.orgId, versionId);
  }

  @Get('notebooks/:id/outputs/:objectId')
  async output(
    @Req() req: AccessRequest,
    @Param('objectId') objectId: string,
    @Res() res: Response,
  ): Promise<void> {
    const nb = accessOf(req).notebook!;
    const obj = await this.outputs.open(nb.id, objectId);
    res.status(200).type(obj.contentType);
    if (obj.bytes !== undefined) res.setHeader('content-length', String(obj.bytes));
    res.setHeader('cache-control', 'private, max-age=31536000, immutable');
    obj.body.pipe(res);
  }

  private async createNotebook(req: AccessRequest, title: string, ipynb: unknown): Promise<NotebookSummary> {
    const { principal } = accessOf(req);
    const id = `nb-${uuidv7()}`;
    const row = await this.notebooks.insert({
      id,
      orgId: principal.orgId,
      ownerId: principal.userId,
      title,
      kernelId: `k-${id.slice(3)}`,
    });
    try {
      await this.docs.create(id, principal.orgId, {
        title,
        createdBy: principal.userId,
        ...(ipynb ? { ipynb } : {}),
      });
    } catch (err) {
      // No half-created notebook: without its document the row is useless.
      await this.notebooks.delete(id);
      throw err;
    }
    return summary(row, 'owner');
  }

  private async sharesOf(nb: NotebookRow, req: AccessRequest): Promise<SharesResponse> {
    const members = await this.notebooks.members(nb.id);
    return {
      shares: members.map((m) => ({ userId: m.userId, email: m.email, name: m.name, role: m.role })),
      link: {
        access: nb.linkAccess,
        token: nb.linkToken,
        url: nb.linkToken ? `${publicOrigin(this.cfg, req)}/links/${nb.linkToken}` : null,
      },
    };
  }
}

export function summary(nb: NotebookRow, role: NotebookRole): NotebookSummary {
  return {
    id: nb.id,
    title: nb.title,
    orgId: nb.orgId,
    ownerId: nb.ownerId,
    role,
    createdAt: nb.createdAt,
    updatedAt: nb.updatedAt,
    kernelId: nb.kernelId,
  };
}
