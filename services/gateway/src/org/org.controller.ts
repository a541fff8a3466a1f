import type { IncomingMessage } from 'node:http';
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import {
  CreateOrgInviteRequest,
  GATEWAY_ROUTES,
  type AuthResponse,
  type OrgInvitePreview,
  type OrgInviteResponse,
  type OrgMembersResponse,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { accessOf, type AccessRequest } from '../auth/access.guard';
import { sessionFor } from '../auth/auth.controller';
import { parseBody } from '../auth/parse';
import { TokenService } from '../auth/tokens';
import { UsersRepository } from '../auth/users.repository';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config';
import { publicOrigin } from '../web/public-origin';
import { OrgRepository, type PendingInviteRow } from './org.repository';

/** How long an invitation link works. */
const INVITE_TTL_MS = 7 * 24 * 3600_000;

/**
 * The caller's org: its members, and invitations into it (admins invite by
 * email with a role; the invite link opens the web editor's join page, where
 * the person signs up — or signs in and accepts here).
 */
@Controller('api/org')
export class OrgController {
  constructor(
    @Inject(OrgRepository) private readonly org: OrgRepository,
    @Inject(UsersRepository) private readonly users: UsersRepository,
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(GATEWAY_CONFIG) private readonly cfg: GatewayConfig,
  ) {}

  @Get('members')
  async members(@Req() req: AccessRequest): Promise<OrgMembersResponse> {
    const { principal } = accessOf(req);
    const me = await this.users.find(principal.userId, principal.orgId);
    if (!me) throw new QuireError('unauthorized', 'this account no longer exists', 'auth.unknown_user');
    const [members, invites] = await Promise.all([
      this.org.members(principal.orgId),
      this.org.pendingInvites(principal.orgId),
    ]);
    return {
      org: { id: me.orgId, name: me.orgName, role: me.orgRole },
      members,
      invites: invites.map((i) => ({
        ...this.inviteDto(i, req),
        url: this.joinUrl(i.token, req),
        createdAt: i.createdAt.toISOString(),
      })),
    };
  }

  @Post('invites')
  @HttpCode(201)
  async invite(@Req() req: AccessRequest, @Body() body: unknown): Promise<OrgInviteResponse> {
    const { principal } = accessOf(req);
    // No body at all (the original API) = an open member invite.
    const input = parseBody(CreateOrgInviteRequest, body ?? {});
    const created = await this.org.createInvite(principal.orgId, principal.userId, {
      email: input.email ?? null,
      role: input.role,
      ttlMs: INVITE_TTL_MS,
    });
    return this.inviteDto(created, req);
  }

  /** Public: the join page shows where the link leads before the person has an account. */
  @Get('invites/:token')
  async preview(@Param('token') token: string): Promise<OrgInvitePreview> {
    const p = await this.org.preview(token);
    if (!p)
      throw new QuireError(
        'not_found',
        'this invitation is not valid (used or expired); ask for a new one',
        'auth.invite_invalid',
      );
    return { ...p, expiresAt: p.expiresAt.toISOString() };
  }

  @Delete('invites/:token')
  @HttpCode(204)
  async revoke(@Req() req: AccessRequest, @Param('token') token: string): Promise<void> {
    const { principal } = accessOf(req);
    if (!(await this.org.revokeInvite(principal.orgId, token)))
      throw new QuireError(
        'not_found',
        'no pending invitation with this token in your org',
        'org.invite_not_found',
      );
  }

  /** A signed-in user (of any org) follows an invite link: they join, and get a session in that org. */
  @Post('invites/:token/accept')
  @HttpCode(200)
  async accept(@Req() req: AccessRequest, @Param('token') token: string): Promise<AuthResponse> {
    const { principal } = accessOf(req);
    const me = await this.users.find(principal.userId, principal.orgId);
    if (!me) throw new QuireError('unauthorized', 'this account no longer exists', 'auth.unknown_user');
    const { orgId } = await this.org.accept(token, { id: me.id, email: me.email });
    const joined = await this.users.find(me.id, orgId);
    if (!joined) throw new QuireError('internal', 'joined the org but could not read the membership back');
    return sessionFor(this.tokens, joined);
  }

  private inviteDto(i: PendingInviteRow, req: IncomingMessage): OrgInviteResponse {
    return {
      invite: i.token,
      expiresAt: i.expiresAt.toISOString(),
      email: i.email,
      role: i.role,
      url: this.joinUrl(i.token, req),
    };
  }

  private joinUrl(token: string, req: IncomingMessage): string {
    return `${publicOrigin(this.cfg, req)}${GATEWAY_ROUTES.joinPage(token)}`;
  }
}
