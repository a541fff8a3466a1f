import { Body, Controller, Get, Inject, Param, Put, Req, UseGuards } from '@nestjs/common';
import { AGENT_CALLER_HEADERS, type AgentSettingsDto } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { Request } from 'express';
import { InternalTokenGuard } from '../api/agent-runs.controller';
import { RuntimeHost } from '../runtime/runtime-host';
import type { SettingsCaller } from './agent-settings.service';

/**
 * GET/PUT /internal/orgs/:orgId/agent-settings (AGENT_INTERNAL_ROUTES.settings): the gateway forwards its
 * admin-only public route here with the caller headers; this service checks again that the caller is an admin
 * of that org. Bodies and answers never carry the API key (only `hasKey` and its last 4 characters).
 */
@Controller('internal/orgs/:orgId/agent-settings')
@UseGuards(InternalTokenGuard)
export class AgentSettingsController {
  constructor(@Inject(RuntimeHost) private readonly host: RuntimeHost) {}

  @Get()
  get(@Req() req: Request, @Param('orgId') orgId: string): Promise<AgentSettingsDto> {
    return this.host.runtime.settings.get(settingsCallerOf(req), orgId);
  }

  @Put()
  put(@Req() req: Request, @Param('orgId') orgId: string, @Body() body: unknown): Promise<AgentSettingsDto> {
    return this.host.runtime.settings.put(settingsCallerOf(req), orgId, body);
  }
}

function settingsCallerOf(req: Request): SettingsCaller {
  const h = (name: string): string | null => {
    const v = req.headers[name];
    return typeof v === 'string' && v.length > 0 && v.length <= 128 ? v : null;
  };
  const userId = h(AGENT_CALLER_HEADERS.userId);
  const orgId = h(AGENT_CALLER_HEADERS.orgId);
  if (!userId || !orgId)
    throw new QuireError(
      'validation',
      `the caller headers ${AGENT_CALLER_HEADERS.userId} and ${AGENT_CALLER_HEADERS.orgId} are required`,
      'agent.invalid_request',
    );
  const role = h(AGENT_CALLER_HEADERS.orgRole);
  return { userId, orgId, orgRole: role === 'admin' || role === 'member' ? role : null };
}
