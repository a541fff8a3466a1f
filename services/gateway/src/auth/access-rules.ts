import type { NotebookRole } from '@quire/contracts';

/**
 * Every HTTP route of the gateway and who may call it — one table, read by
 * AccessGuard on each request and by the route × role matrix test. A route
 * missing here is refused (fail closed), and the test fails.
 *
 * Keys are `METHOD path` with Express's path syntax, exactly as the
 * controllers declare them.
 */
export type AccessRule =
  /** Anyone, no token (sign-up, health, the status page). */
  | { kind: 'public' }
  /** Any signed-in user; what they see is scoped to their org by the handler. */
  | { kind: 'user' }
  /** An admin of the caller's org. */
  | { kind: 'org-admin' }
  /** A signed-in user with at least `min` on the notebook named by `:id`, in the same org. */
  | { kind: 'notebook'; min: NotebookRole }
  /** The user who started the Jupyter API kernel named by `:id` (same org). */
  | { kind: 'jupyter-kernel' }
  /** The user who owns the Jupyter API session named by `:id` (same org). */
  | { kind: 'jupyter-session' }
  /** An agent run's token (TOKEN_AUDIENCES.agent) for the notebook named by `:id`, its user at least `min` there; user tokens are refused. */
  | { kind: 'agent-run'; min: NotebookRole };

const nb = (min: NotebookRole): AccessRule => ({ kind: 'notebook', min });
const PUBLIC: AccessRule = { kind: 'public' };
const USER: AccessRule = { kind: 'user' };

export const ROUTE_RULES: Record<string, AccessRule> = {
  'GET /': PUBLIC,
  /** The web editor's static files (a middleware, before the router). */
  'GET /{*splat}': PUBLIC,
  'GET /api/platform/status': PUBLIC,
  'GET /healthz': PUBLIC,
  'GET /readyz': PUBLIC,
  'GET /metrics': PUBLIC,
  'POST /api/auth/signup': PUBLIC,
  'POST /api/auth/login': PUBLIC,
  /** Any signed-in user; the handler checks they are a member of the org they ask for. */
  'POST /api/auth/switch-org': USER,
  'GET /api/me': USER,
  'POST /api/org/invites': { kind: 'org-admin' },
  'GET /api/org/members': { kind: 'org-admin' },
  /** The join page's preview of an invite link (org name, email): the token is the permission. */
  'GET /api/org/invites/:token': PUBLIC,
  'DELETE /api/org/invites/:token': { kind: 'org-admin' },
  /** Any signed-in user: the invite itself (single use, maybe bound to an email) is the permission. */
  'POST /api/org/invites/:token/accept': USER,
  'GET /api/notebooks': USER,
  'POST /api/notebooks': USER,
  'POST /api/notebooks/import': USER,
  'GET /api/notebooks/:id': nb('viewer'),
  'PATCH /api/notebooks/:id': nb('editor'),
  'DELETE /api/notebooks/:id': nb('owner'),
  'GET /api/notebooks/:id/export': nb('viewer'),
  'GET /api/notebooks/:id/session': nb('viewer'),
  'GET /api/notebooks/:id/shares': nb('viewer'),
  'PUT /api/notebooks/:id/shares': nb('owner'),
  'GET /api/notebooks/:id/versions': nb('viewer'),
  'POST /api/notebooks/:id/versions/:versionId/restore': nb('editor'),
  'GET /api/notebooks/:id/outputs/:objectId': nb('viewer'),
  'POST /api/links/:token/accept': USER,
  // Agent mode: editors and owners start, stop, review and undo runs; everyone it is shared with watches.
  'POST /api/notebooks/:id/agent-runs': nb('editor'),
  'GET /api/notebooks/:id/agent-runs': nb('viewer'),
  'GET /api/notebooks/:id/agent-runs/:runId': nb('viewer'),
  'GET /api/notebooks/:id/agent-runs/:runId/events': nb('viewer'),
  'POST /api/notebooks/:id/agent-runs/:runId/stop': nb('editor'),
  'POST /api/notebooks/:id/agent-runs/:runId/review': nb('editor'),
  'POST /api/notebooks/:id/agent-runs/:runId/undo': nb('editor'),
  // The agent's dry run: forks of the notebook's kernel (kernel-fork/), for its runs' tokens only.
  'POST /api/notebooks/:id/kernel/forks': { kind: 'agent-run', min: 'runner' },
  'POST /api/notebooks/:id/kernel/forks/:forkId/execute': { kind: 'agent-run', min: 'runner' },
  'DELETE /api/notebooks/:id/kernel/forks/:forkId': { kind: 'agent-run', min: 'runner' },
  /** The org's LLM provider for agent runs (the handler also checks :orgId is the caller's org). */
  'GET /api/orgs/:orgId/agent-settings': { kind: 'org-admin' },
  'PUT /api/orgs/:orgId/agent-settings': { kind: 'org-admin' },
  /** The compute picker's GPU offer: any member of the org (the handler asks for the caller's org only). */
  'GET /api/gpu/offer': USER,
  // Jupyter Server–compatible API.
  'GET /api': PUBLIC,
  'GET /api/status': USER,
  'GET /api/kernelspecs': USER,
  'GET /api/kernels': USER,
  'POST /api/kernels': USER,
  'GET /api/kernels/:id': { kind: 'jupyter-kernel' },
  'DELETE /api/kernels/:id': { kind: 'jupyter-kernel' },
  'POST /api/kernels/:id/interrupt': { kind: 'jupyter-kernel' },
  'POST /api/kernels/:id/restart': { kind: 'jupyter-kernel' },
  'GET /api/sessions': USER,
  'POST /api/sessions': USER,
  'GET /api/sessions/:id': { kind: 'jupyter-session' },
  'PATCH /api/sessions/:id': { kind: 'jupyter-session' },
  'DELETE /api/sessions/:id': { kind: 'jupyter-session' },
};

/** WebSocket endpoints (handled on the HTTP upgrade, outside Nest's router), same rule kinds. */
export const WS_RULES = {
  kernelChannel: { path: /^\/api\/notebooks\/([^/]+)\/kernel-channel$/, rule: nb('viewer') },
  jupyterChannels: {
    path: /^\/api\/kernels\/([^/]+)\/channels$/,
    rule: { kind: 'jupyter-kernel' } as AccessRule,
  },
} as const;
