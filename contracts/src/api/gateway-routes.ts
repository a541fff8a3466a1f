/**
 * Paths of the gateway's public API (the table and the request/response types
 * are in gateway-api.ts). Kept apart from the zod schemas: the web editor
 * imports these at runtime, and this module pulls nothing else into its bundle.
 */
export const GATEWAY_ROUTES = {
  signup: '/api/auth/signup',
  login: '/api/auth/login',
  switchOrg: '/api/auth/switch-org',
  me: '/api/me',
  orgMembers: '/api/org/members',
  orgInvites: '/api/org/invites',
  orgInvite: (token: string) => `/api/org/invites/${encodeURIComponent(token)}`,
  acceptOrgInvite: (token: string) => `/api/org/invites/${encodeURIComponent(token)}/accept`,
  /** The web page an invite link opens (signs up or signs in, then joins). */
  joinPage: (token: string) => `/join/${encodeURIComponent(token)}`,
  notebooks: '/api/notebooks',
  importNotebook: '/api/notebooks/import',
  notebook: (id: string) => `/api/notebooks/${encodeURIComponent(id)}`,
  exportNotebook: (id: string) => `/api/notebooks/${encodeURIComponent(id)}/export`,
  session: (id: string) => `/api/notebooks/${encodeURIComponent(id)}/session`,
  shares: (id: string) => `/api/notebooks/${encodeURIComponent(id)}/shares`,
  acceptLink: (token: string) => `/api/links/${encodeURIComponent(token)}/accept`,
  versions: (id: string) => `/api/notebooks/${encodeURIComponent(id)}/versions`,
  restoreVersion: (id: string, versionId: string) =>
    `/api/notebooks/${encodeURIComponent(id)}/versions/${encodeURIComponent(versionId)}/restore`,
  output: (id: string, objectId: string) =>
    `/api/notebooks/${encodeURIComponent(id)}/outputs/${encodeURIComponent(objectId)}`,
  kernelChannel: (id: string) => `/api/notebooks/${encodeURIComponent(id)}/kernel-channel`,
  /** Agent mode (agent-api.ts). */
  agentRuns: (id: string) => `/api/notebooks/${encodeURIComponent(id)}/agent-runs`,
  agentRun: (id: string, runId: string) =>
    `/api/notebooks/${encodeURIComponent(id)}/agent-runs/${encodeURIComponent(runId)}`,
  agentRunEvents: (id: string, runId: string) =>
    `/api/notebooks/${encodeURIComponent(id)}/agent-runs/${encodeURIComponent(runId)}/events`,
  agentRunAction: (id: string, runId: string, action: 'stop' | 'review' | 'undo') =>
    `/api/notebooks/${encodeURIComponent(id)}/agent-runs/${encodeURIComponent(runId)}/${action}`,
  /** GPU types and slices the caller's org may pick, with availability (gpu-scheduler-api.ts). */
  gpuOffer: '/api/gpu/offer',
} as const;
