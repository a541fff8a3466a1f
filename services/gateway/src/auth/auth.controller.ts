import { Body, Controller, Get, HttpCode, Inject, Post, Req } from '@nestjs/common';
import {
  LoginRequest,
  SignupRequest,
  SwitchOrgRequest,
  type AuthResponse,
  type MeResponse,
  type OrgDto,
  type UserDto,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { accessOf, type AccessRequest } from './access.guard';
import { parseBody } from './parse';
import { hashPassword, verifyPassword } from './passwords';
import { TokenService } from './tokens';
import { userColor, UsersRepository, type UserRow } from './users.repository';

@Controller('api')
export class AuthController {
  constructor(
    @Inject(UsersRepository) private readonly users: UsersRepository,
    @Inject(TokenService) private readonly tokens: TokenService,
  ) {}

  @Post('auth/signup')
  @HttpCode(201)
  async signup(@Body() body: unknown): Promise<AuthResponse> {
    const req = parseBody(SignupRequest, body);
    const user = await this.users.create({
      email: req.email,
      name: req.name,
      orgName: req.orgName ?? `${req.name}'s workspace`,
      passwordHash: await hashPassword(req.password),
      ...(req.invite ? { invite: req.invite } : {}),
    });
    return this.session(user);
  }

  @Post('auth/login')
  @HttpCode(200)
  async login(@Body() body: unknown): Promise<AuthResponse> {
    const req = parseBody(LoginRequest, body);
    const user = await this.users.findByEmail(req.email);
    // Same answer for an unknown email and a wrong password: no account probing.
    if (!user || !(await verifyPassword(req.password, user.passwordHash)))
      throw new QuireError('unauthorized', 'wrong email or password', 'auth.bad_credentials');
    // Without orgId: the org they used last (findByEmail's order). Asked only after the password
    // was right, so naming an org reveals nothing to someone without it.
    const inOrg = req.orgId && req.orgId !== user.orgId ? await this.member(user.id, req.orgId) : user;
    await this.users.markOrgUsed(inOrg.id, inOrg.orgId);
    return this.session(inOrg);
  }

  /** A person in several orgs moves to another one: a fresh token for it (a token carries one org). */
  @Post('auth/switch-org')
  @HttpCode(200)
  async switchOrg(@Req() req: AccessRequest, @Body() body: unknown): Promise<AuthResponse> {
    const { principal } = accessOf(req);
    const { orgId } = parseBody(SwitchOrgRequest, body);
    const user = await this.member(principal.userId, orgId);
    await this.users.markOrgUsed(user.id, user.orgId);
    return this.session(user);
  }

  @Get('me')
  async me(@Req() req: AccessRequest): Promise<MeResponse> {
    const { principal } = accessOf(req);
    const [user, orgs] = await Promise.all([
      this.users.find(principal.userId, principal.orgId),
      this.users.orgsOf(principal.userId),
    ]);
    if (!user) throw new QuireError('unauthorized', 'this account no longer exists', 'auth.unknown_user');
    return { user: userDto(user), org: orgDto(user), orgs };
  }

  /** The user as a member of `orgId`; 403 when they are not one (another org's id is no secret, its contents are). */
  private async member(userId: string, orgId: string): Promise<UserRow> {
    const user = await this.users.find(userId, orgId);
    if (!user)
      throw new QuireError(
        'forbidden',
        `you are not a member of the organisation ${orgId}; ask one of its admins for an invitation`,
        'org.not_member',
      );
    return user;
  }

  private session(user: UserRow): Promise<AuthResponse> {
    return sessionFor(this.tokens, user);
  }
}

/** A signed-in session (user token) for the user in the org of `user` (sign-in, sign-up, joining an org). */
export async function sessionFor(tokens: TokenService, user: UserRow): Promise<AuthResponse> {
  const { token, exp } = await tokens.mintUser({ id: user.id, orgId: user.orgId, name: user.name });
  return { token, expiresAt: new Date(exp * 1000).toISOString(), user: userDto(user), org: orgDto(user) };
}

export function userDto(u: UserRow): UserDto {
  return { id: u.id, email: u.email, name: u.name, color: userColor(u.id) };
}

function orgDto(u: UserRow): OrgDto {
  return { id: u.orgId, name: u.orgName, role: u.orgRole };
}
