import { agentDisplayName, NOTEBOOK_ROLE_RANK } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { JupyterRepository } from '../jupyter/jupyter.repository';
import type { NotebooksRepository } from '../notebooks/notebooks.repository';
import type { AccessRule } from './access-rules';
import type { AccessContext, Principal } from './principal';
import type { TokenService } from './tokens';

/**
 * Applies an AccessRule: verifies the token, then checks the resource named
 * by `:id` belongs to the caller's org (403 otherwise, even when it exists —
 * another org's ids are not secrets, their contents are) and that the caller's
 * role is strong enough.
 */
export class AccessService {
  constructor(
    private readonly tokens: TokenService,
    private readonly notebooks: NotebooksRepository,
    private readonly jupyter: JupyterRepository,
    private readonly orgRoleOf: (userId: string, orgId: string) => Promise<'admin' | 'member' | null>,
  ) {}

  /**
   * An agent token on a notebook's kernel channel: only the notebook it names,
   * with the role its user has there now, shown as "Agent (for <name>)".
   */
  async checkAgent(token: string, notebookId: string): Promise<AccessContext> {
    const claims = await this.tokens.verifyAgent(token);
    if (claims.nb !== notebookId)
      throw new QuireError('forbidden', 'this agent token is for another notebook', 'access.denied');
    const notebook = await this.notebooks.get(notebookId);
    if (!notebook) throw new QuireError('not_found', `no notebook ${notebookId}`, 'notebook.not_found');
    if (notebook.orgId !== claims.org)
      throw new QuireError('forbidden', 'this notebook belongs to another organisation', 'access.other_org');
    const role = await this.notebooks.roleOf(notebook, claims.sub);
    if (!role) throw new QuireError('forbidden', 'this notebook is not shared with you', 'access.not_shared');
    return {
      principal: {
        userId: claims.sub,
        orgId: claims.org,
        name: agentDisplayName(claims.name),
        agentRunId: claims.run,
      },
      notebook,
      role,
    };
  }

  async check(rule: AccessRule, token: string | null, id: string | undefined): Promise<AccessContext> {
    if (rule.kind === 'public') return { principal: null };
    if (!token)
      throw new QuireError('unauthorized', 'sign in first: no token was sent', 'auth.missing_token');
    if (rule.kind === 'agent-run') {
      if (!id) throw new QuireError('forbidden', 'no notebook named', 'access.denied');
      const ctx = await this.checkAgent(token, id);
      if (NOTEBOOK_ROLE_RANK[ctx.role!] < NOTEBOOK_ROLE_RANK[rule.min])
        throw new QuireError(
          'forbidden',
          `this needs the ${rule.min} role; the run's user is ${ctx.role}`,
          'access.role',
        );
      return ctx;
    }
    const claims = await this.tokens.verifyUser(token);
    const principal: Principal = { userId: claims.sub, orgId: claims.org, name: claims.name };
    if (rule.kind === 'user') return { principal };
    if (rule.kind === 'org-admin') {
      if ((await this.orgRoleOf(principal.userId, principal.orgId)) !== 'admin')
        throw new QuireError('forbidden', 'only org admins can do this', 'access.not_admin');
      return { principal };
    }
    if (!id) throw new QuireError('forbidden', 'no resource named', 'access.denied');
    if (rule.kind === 'notebook') {
      const notebook = await this.notebooks.get(id);
      if (!notebook) throw new QuireError('not_found', `no notebook ${id}`, 'notebook.not_found');
      if (notebook.orgId !== principal.orgId)
        throw new QuireError(
          'forbidden',
          'this notebook belongs to another organisation',
          'access.other_org',
        );
      const role = await this.notebooks.roleOf(notebook, principal.userId);
      if (!role)
        throw new QuireError('forbidden', 'this notebook is not shared with you', 'access.not_shared');
      if (NOTEBOOK_ROLE_RANK[role] < NOTEBOOK_ROLE_RANK[rule.min])
        throw new QuireError('forbidden', `this needs the ${rule.min} role; you are ${role}`, 'access.role');
      return { principal, notebook, role };
    }
    const owner =
      rule.kind === 'jupyter-kernel' ? await this.jupyter.kernel(id) : await this.jupyter.session(id);
    if (!owner)
      throw new QuireError('not_found', `no ${rule.kind.replace('jupyter-', '')} ${id}`, 'jupyter.not_found');
    if (owner.orgId !== principal.orgId || owner.userId !== principal.userId)
      throw new QuireError('forbidden', 'this kernel belongs to someone else', 'access.denied');
    return { principal };
  }
}
