import { z } from 'zod';
import type { NotebookRole } from './auth-tokens';
import type { NotebookVersion } from './doc-sync-api';

/**
 * The gateway's public HTTP API (what the web editor and scripts call).
 * Base: the gateway origin. Auth: `Authorization: Bearer <user token>` on
 * every route except signup/login (a user token = UserTokenClaims, aud
 * `quire:user`). Errors are problem+json `{ type, title, status, code, detail }`
 * with a stable `code`. A token of another org gets 403 on every notebook route.
 *
 *   POST   /api/auth/signup                         SignupRequest → AuthResponse (201)
 *   POST   /api/auth/login                          LoginRequest → AuthResponse
 *   POST   /api/auth/switch-org                     SwitchOrgRequest → AuthResponse (a session in another org of mine; 403 org.not_member)
 *   GET    /api/me                                  → MeResponse (with every org I belong to)
 *   POST   /api/org/invites                         CreateOrgInviteRequest (optional) → OrgInviteResponse (201; org admins; single use, 7 days)
 *   GET    /api/org/members                         → OrgMembersResponse (org admins: members and pending invites)
 *   GET    /api/org/invites/:token                  → OrgInvitePreview (public: the token is the secret; 404 auth.invite_invalid when used/expired)
 *   DELETE /api/org/invites/:token                  → 204 (org admins; revokes a pending invite of their org)
 *   POST   /api/org/invites/:token/accept           → AuthResponse (a signed-in user joins the invite's org; the token is for that org)
 *   GET    /api/notebooks                           → ListNotebooksResponse (the ones I can open)
 *   POST   /api/notebooks                           CreateNotebookRequest → NotebookSummary (201)
 *   POST   /api/notebooks/import                    nbformat 4 JSON (body), `?title=` optional → NotebookSummary (201)
 *   GET    /api/notebooks/:id                       → NotebookSummary            (viewer+)
 *   PATCH  /api/notebooks/:id                       UpdateNotebookRequest → NotebookSummary (editor+)
 *   DELETE /api/notebooks/:id                       → 204                        (owner)
 *   GET    /api/notebooks/:id/export                → nbformat 4 JSON, Content-Disposition attachment (viewer+)
 *   GET    /api/notebooks/:id/session               → NotebookSessionResponse    (viewer+)
 *   GET    /api/notebooks/:id/shares                → SharesResponse             (viewer+)
 *   PUT    /api/notebooks/:id/shares                PutSharesRequest → SharesResponse (owner)
 *   POST   /api/links/:token/accept                 → AcceptLinkResponse (the caller gains the link's role)
 *   GET    /api/notebooks/:id/versions              → { versions: NotebookVersion[] } (viewer+)
 *   POST   /api/notebooks/:id/versions/:versionId/restore → NotebookVersion (editor+)
 *   GET    /api/notebooks/:id/outputs/:objectId     → the stored output bytes (viewer+; Content-Type of the output)
 *
 * WebSockets (token as `quire.bearer.<token>` subprotocol or `?token=`; Origin checked):
 *   GET    /api/notebooks/:id/kernel-channel        kernel-channel.ts (viewer+ may watch; runner+ may run)
 *   GET    /api/kernels/:kernelId/channels          Jupyter kernel WebSocket (Jupyter Server compatible)
 *
 * Jupyter Server–compatible (auth `Authorization: token <user token>` or `?token=`):
 *   GET /api/kernelspecs, GET/POST /api/kernels, GET/DELETE /api/kernels/:id,
 *   POST /api/kernels/:id/interrupt, POST /api/kernels/:id/restart, GET/POST /api/sessions, GET/PATCH/DELETE /api/sessions/:id
 */

// The paths live in a module without schemas, so the browser bundle gets them without zod.
export { GATEWAY_ROUTES } from './gateway-routes';

const email = z.string().trim().toLowerCase().email().max(254);
const password = z.string().min(8, 'password must have at least 8 characters').max(256);

export const SignupRequest = z.object({
  email,
  name: z.string().trim().min(1).max(100),
  password,
  /** Create a new org with this name; omitted = a personal org named after the user. */
  orgName: z.string().trim().min(1).max(100).optional(),
  /** An invitation (POST /api/org/invites): join that org as a member instead of creating one. */
  invite: z.string().min(10).max(200).optional(),
});
export type SignupRequest = z.infer<typeof SignupRequest>;

const orgId = z.string().trim().min(1).max(200);

export const LoginRequest = z.object({
  email,
  password: z.string().min(1).max(256),
  /** Added compatibly: sign in to this org of mine; omitted = the org I used last (else my oldest). */
  orgId: orgId.optional(),
});
export type LoginRequest = z.infer<typeof LoginRequest>;

/** Body of POST /api/auth/switch-org: a fresh session in another org the signed-in user belongs to. */
export const SwitchOrgRequest = z.object({ orgId });
export type SwitchOrgRequest = z.infer<typeof SwitchOrgRequest>;

export interface UserDto {
  id: string;
  email: string;
  name: string;
  /** Stable presence colour (#rrggbb) for cursors and avatars. */
  color: string;
}

export interface OrgDto {
  id: string;
  name: string;
  role: 'admin' | 'member';
}

export interface AuthResponse {
  /** User token (aud quire:user); send as `Authorization: Bearer <token>`. */
  token: string;
  expiresAt: string;
  user: UserDto;
  org: OrgDto;
}

export type OrgRole = OrgDto['role'];

/** Body of POST /api/org/invites; an empty body = an open member invite (anyone with the link). Added compatibly. */
export const CreateOrgInviteRequest = z.object({
  /** Only this person may use the invite (signing up or signing in with this email). */
  email: email.optional(),
  role: z.enum(['admin', 'member']).default('member'),
});
export type CreateOrgInviteRequest = z.input<typeof CreateOrgInviteRequest>;

export interface OrgInviteResponse {
  invite: string;
  expiresAt: string;
  /** Added compatibly: who may use it (null: anyone with the link), the role it grants, the link to send. */
  email: string | null;
  role: OrgRole;
  /** Absolute URL of the join page (GATEWAY_ROUTES.joinPage) on this gateway's public origin. */
  url: string;
}

/** What the join page shows before anyone signs in: who invites you where, and for which email. */
export interface OrgInvitePreview {
  orgName: string;
  invitedBy: string;
  email: string | null;
  role: OrgRole;
  expiresAt: string;
}

export interface OrgMemberDto {
  userId: string;
  email: string;
  name: string;
  role: OrgRole;
}

export interface PendingOrgInvite {
  invite: string;
  email: string | null;
  role: OrgRole;
  url: string;
  createdAt: string;
  expiresAt: string;
}

export interface OrgMembersResponse {
  org: OrgDto;
  members: OrgMemberDto[];
  invites: PendingOrgInvite[];
}

export interface MeResponse {
  user: UserDto;
  org: OrgDto;
  /** Added compatibly: every org I belong to, with my role there (by name; includes `org`). */
  orgs?: OrgDto[];
}

export const CreateNotebookRequest = z.object({
  title: z.string().trim().min(1).max(200).default('Untitled'),
});
export type CreateNotebookRequest = z.input<typeof CreateNotebookRequest>;

export const UpdateNotebookRequest = z.object({ title: z.string().trim().min(1).max(200) });
export type UpdateNotebookRequest = z.infer<typeof UpdateNotebookRequest>;

export interface NotebookSummary {
  id: string;
  title: string;
  orgId: string;
  ownerId: string;
  /** The caller's role on it. */
  role: NotebookRole;
  createdAt: string;
  updatedAt: string;
  /** Kernel id used on the Jupyter-compatible API and in exec.v1 events. */
  kernelId: string;
}

export interface ListNotebooksResponse {
  notebooks: NotebookSummary[];
}

export interface NotebookSessionResponse {
  role: NotebookRole;
  /** doc-sync WebSocket URL including `/notebooks/:id` (pass docToken as `quire.bearer.` subprotocol or `?token=`). */
  docUrl: string;
  /** Short-lived DocTokenClaims token for that notebook. */
  docToken: string;
  docTokenExpiresAt: string;
  /** Absolute ws(s) URL of this notebook's kernel channel (kernel-channel.ts). */
  kernelChannelUrl: string;
  user: { id: string; name: string; color: string };
}

export type LinkAccess = 'none' | 'view' | 'edit';

export interface ShareEntry {
  userId: string;
  email: string;
  name: string;
  role: NotebookRole;
}

export interface SharesResponse {
  shares: ShareEntry[];
  link: { access: LinkAccess; token: string | null; url: string | null };
}

export const PutSharesRequest = z.object({
  /** Full list of non-owner members (replaces it); users are named by email within the org. */
  shares: z
    .array(z.object({ email, role: z.enum(['editor', 'runner', 'viewer']) }))
    .max(1000)
    .default([]),
  /** Link sharing: 'view' → viewer, 'edit' → editor; 'none' revokes the link. A new token is minted on change. */
  link: z.enum(['none', 'view', 'edit']).default('none'),
});
export type PutSharesRequest = z.input<typeof PutSharesRequest>;

export interface AcceptLinkResponse {
  notebookId: string;
  role: NotebookRole;
}

export interface VersionsResponse {
  versions: NotebookVersion[];
}

/** Role order: a route needing `runner` admits runner, editor and owner. */
export const NOTEBOOK_ROLE_RANK: Record<NotebookRole, number> = { viewer: 0, runner: 1, editor: 2, owner: 3 };
