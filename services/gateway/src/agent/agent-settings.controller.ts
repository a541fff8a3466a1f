import { Body, Controller, Get, Inject, Param, Put, Req } from '@nestjs/common';
import { PutAgentSettingsRequest, type AgentSettingsDto } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { accessOf, type AccessRequest } from '../auth/access.guard';
import { parseBody } from '../auth/parse';
import { AgentServiceClient } from './agent-service.client';

/**
 * GET/PUT /api/orgs/:orgId/agent-settings — the org's LLM provider, model, prices and API key for agent runs.
 * Org admins only (route table: `org-admin`); another org's id is 404. Forwarded to the agent service, which
 * keeps the key encrypted and never returns it (only `hasKey` and `keyLast4`).
 */
@Controller('api/orgs/:orgId/agent-settings')
export class AgentSettingsController {
  constructor(@Inject(AgentServiceClient) private readonly agent: AgentServiceClient) {}

  @Get()
  get(@Req() req: AccessRequest, @Param('orgId') orgId: string): Promise<AgentSettingsDto> {
    return this.agent.settings(this.callerFor(req, orgId), orgId);
  }

  @Put()
  put(
    @Req() req: AccessRequest,
    @Param('orgId') orgId: string,
    @Body() body: unknown,
  ): Promise<AgentSettingsDto> {
    const caller = this.callerFor(req, orgId);
    return this.agent.settings(caller, orgId, parseBody(PutAgentSettingsRequest, body ?? {}));
  }

  private callerFor(req: AccessRequest, orgId: string): { userId: string; orgId: string } {
    const { principal } = accessOf(req);
    if (principal.orgId !== orgId)
      throw new QuireError('not_found', 'there is no such organisation', 'org.not_found');
    return { userId: principal.userId, orgId: principal.orgId };
  }
}
