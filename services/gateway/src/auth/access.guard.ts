import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { QuireError } from '@quire/service-kit';
import type { Request } from 'express';
import { ROUTE_RULES } from './access-rules';
import { AccessService } from './access.service';
import { tokenOf, type AccessContext, type Principal } from './principal';

export type AccessRequest = Request & { access?: AccessContext };

/**
 * Global guard: looks the matched route up in ROUTE_RULES and applies its
 * rule. A route without a rule is refused, so forgetting one fails closed.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(@Inject(AccessService) private readonly access: AccessService) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<AccessRequest>();
    const key = `${req.method} ${(req.route as { path?: string } | undefined)?.path ?? req.path}`;
    const rule = ROUTE_RULES[key];
    if (!rule) throw new QuireError('forbidden', `no access rule for ${key}`, 'access.no_rule');
    const id = req.params?.id;
    req.access = await this.access.check(rule, tokenOf(req), typeof id === 'string' ? id : undefined);
    return true;
  }
}

export function accessOf(req: AccessRequest): AccessContext & { principal: Principal } {
  const access = req.access;
  if (!access?.principal) throw new QuireError('unauthorized', 'sign in first', 'auth.missing_token');
  return access as AccessContext & { principal: Principal };
}
