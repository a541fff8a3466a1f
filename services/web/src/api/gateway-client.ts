import {
  GATEWAY_ROUTES,
  type AcceptLinkResponse,
  type AuthResponse,
  type CreateOrgInviteRequest,
  type ListNotebooksResponse,
  type LoginRequest,
  type MeResponse,
  type NotebookSessionResponse,
  type NotebookSummary,
  type NotebookVersion,
  type OrgInvitePreview,
  type OrgInviteResponse,
  type OrgMembersResponse,
  type PutSharesRequest,
  type SharesResponse,
  type SignupRequest,
  type VersionsResponse,
} from '@quire/contracts';
import { clearSession, loadSession } from './auth-store';

/** A gateway error with its problem+json fields; `message` is for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the gateway says the session is no longer valid (401). */
let onUnauthorized: () => void = () => undefined;
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export async function request<T>(method: string, path: string, body?: unknown, raw = false): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const session = loadSession();
  if (session) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the Quire server. Check your connection and try again.');
  }
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = `${method} ${path} failed (${res.status})`;
    try {
      const problem = (await res.json()) as {
        code?: string;
        detail?: string;
        title?: string;
        message?: string;
      };
      code = problem.code ?? code;
      message = problem.detail ?? problem.message ?? problem.title ?? message;
    } catch {
      /* not problem+json: keep the generic message */
    }
    if (res.status === 401 && session) {
      clearSession();
      onUnauthorized();
    }
    throw new ApiError(res.status, code, message);
  }
  if (raw) return res as unknown as T;
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const api = {
  signup: (body: SignupRequest) => request<AuthResponse>('POST', GATEWAY_ROUTES.signup, body),
  login: (body: LoginRequest) => request<AuthResponse>('POST', GATEWAY_ROUTES.login, body),
  me: () => request<MeResponse>('GET', GATEWAY_ROUTES.me),
  /** A session in another org the signed-in user belongs to (a token carries one org). */
  switchOrg: (orgId: string) => request<AuthResponse>('POST', GATEWAY_ROUTES.switchOrg, { orgId }),
  orgMembers: () => request<OrgMembersResponse>('GET', GATEWAY_ROUTES.orgMembers),
  createOrgInvite: (body: CreateOrgInviteRequest) =>
    request<OrgInviteResponse>('POST', GATEWAY_ROUTES.orgInvites, body),
  revokeOrgInvite: (token: string) => request<void>('DELETE', GATEWAY_ROUTES.orgInvite(token)),
  orgInvitePreview: (token: string) => request<OrgInvitePreview>('GET', GATEWAY_ROUTES.orgInvite(token)),
  /** Joins the invite's org as the signed-in user; the answer is a session in that org. */
  acceptOrgInvite: (token: string) => request<AuthResponse>('POST', GATEWAY_ROUTES.acceptOrgInvite(token)),
  listNotebooks: () => request<ListNotebooksResponse>('GET', GATEWAY_ROUTES.notebooks),
  createNotebook: (title: string) => request<NotebookSummary>('POST', GATEWAY_ROUTES.notebooks, { title }),
  importNotebook: (ipynb: unknown, title: string) =>
    request<NotebookSummary>(
      'POST',
      `${GATEWAY_ROUTES.importNotebook}?title=${encodeURIComponent(title)}`,
      ipynb,
    ),
  getNotebook: (id: string) => request<NotebookSummary>('GET', GATEWAY_ROUTES.notebook(id)),
  renameNotebook: (id: string, title: string) =>
    request<NotebookSummary>('PATCH', GATEWAY_ROUTES.notebook(id), { title }),
  deleteNotebook: (id: string) => request<void>('DELETE', GATEWAY_ROUTES.notebook(id)),
  exportNotebook: async (id: string): Promise<Blob> =>
    (await request<Response>('GET', GATEWAY_ROUTES.exportNotebook(id), undefined, true)).blob(),
  session: (id: string) => request<NotebookSessionResponse>('GET', GATEWAY_ROUTES.session(id)),
  shares: (id: string) => request<SharesResponse>('GET', GATEWAY_ROUTES.shares(id)),
  putShares: (id: string, body: PutSharesRequest) =>
    request<SharesResponse>('PUT', GATEWAY_ROUTES.shares(id), body),
  acceptLink: (token: string) => request<AcceptLinkResponse>('POST', GATEWAY_ROUTES.acceptLink(token)),
  versions: (id: string) => request<VersionsResponse>('GET', GATEWAY_ROUTES.versions(id)),
  restoreVersion: (id: string, versionId: string) =>
    request<NotebookVersion>('POST', GATEWAY_ROUTES.restoreVersion(id, versionId)),
  /** A large output by its OutputRef url (same origin, as the signed-in user). */
  fetchOutput: (url: string) => request<Response>('GET', url, undefined, true),
};
