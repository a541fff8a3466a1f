import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, Param, Post, Put } from '@nestjs/common';
import type { CreateNotebookDocResponse, NotebookVersion } from '@quire/contracts';
import type { Ipynb } from '../notebook/ipynb-schema';
import { NotebooksService } from './notebooks.service';

/** The gateway's API (contracts/src/api/doc-sync-api.ts); every route takes a service doc token. */
@Controller('internal/notebooks')
export class InternalController {
  constructor(@Inject(NotebooksService) private readonly notebooks: NotebooksService) {}

  @Post(':id')
  @HttpCode(201)
  async create(
    @Param('id') id: string,
    @Body() body: unknown,
    @Headers('authorization') auth: string | undefined,
  ): Promise<CreateNotebookDocResponse> {
    const claims = await this.notebooks.authorize(auth, id);
    return { notebookId: id, version: await this.notebooks.create(id, body, claims) };
  }

  @Get(':id/ipynb')
  async getIpynb(
    @Param('id') id: string,
    @Headers('authorization') auth: string | undefined,
  ): Promise<Ipynb> {
    return this.notebooks.getIpynb(id, await this.notebooks.authorize(auth, id));
  }

  @Put(':id/ipynb')
  @HttpCode(204)
  async putIpynb(
    @Param('id') id: string,
    @Body() body: unknown,
    @Headers('authorization') auth: string | undefined,
  ): Promise<void> {
    await this.notebooks.putIpynb(id, body, await this.notebooks.authorize(auth, id));
  }

  @Get(':id/versions')
  async versions(
    @Param('id') id: string,
    @Headers('authorization') auth: string | undefined,
  ): Promise<{ versions: NotebookVersion[] }> {
    return { versions: await this.notebooks.versions(id, await this.notebooks.authorize(auth, id)) };
  }

  @Post(':id/versions/:versionId/restore')
  @HttpCode(200)
  async restore(
    @Param('id') id: string,
    @Param('versionId') versionId: string,
    @Headers('authorization') auth: string | undefined,
  ): Promise<NotebookVersion> {
    return this.notebooks.restore(id, versionId, await this.notebooks.authorize(auth, id));
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Headers('authorization') auth: string | undefined): Promise<void> {
    await this.notebooks.delete(id, await this.notebooks.authorize(auth, id));
  }
}
