import {
  AGENT_CALLER_HEADERS,
  AGENT_INTERNAL_ROUTES,
  type AgentReviewRequest,
  type AgentRunDto,
  type AgentSettingsDto,
  type PutAgentSettingsRequest,
  type InternalStartAgentRunRequest,
  type NotebookRole,
} from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { InternalService } from './internal-service';

/** Who is asking, as the gateway vouches for it on every forwarded call. */
export interface AgentCaller {
  userId: string;
  userName: string;
  orgId: string;
  role: NotebookRole;
  notebookId: string;
  /** The notebook's kernel (notebooks.kernel_id): the kernel the run's cells execute in. */
  kernelId: string;
}

/**
 * The agent service's internal API (agent-api.ts, AGENT_INTERNAL_ROUTES),
 * called with the internal token and the caller as AGENT_CALLER_HEADERS.
 * Every run it hands back is checked to belong to the caller's notebook: a
 * run id from another notebook is 404, whatever the agent service says.
 */
export class AgentServiceClient {
  private readonly http: InternalService;

  constructor(baseUrl: string, internalToken: string | undefined) {
    this.http = new InternalService({
      codePrefix: 'agent',
      label: 'the agent service',
      baseUrl,
      token: internalToken,
    });
  }

  start(caller: AgentCaller, req: InternalStartAgentRunRequest): Promise<AgentRunDto> {
    return this.run(caller, { method: 'POST', path: AGENT_INTERNAL_ROUTES.runs, body: req });
  }

  async list(caller: AgentCaller): Promise<{ runs: AgentRunDto[] }> {
    const { runs } = await this.http.json<{ runs?: AgentRunDto[] }>({
      method: 'GET',
      path: AGENT_INTERNAL_ROUTES.runsOf(caller.notebookId),
      headers: callerHeaders(caller),
    });
    return { runs: (runs ?? []).filter((r) => r.notebookId === caller.notebookId) };
  }

  get(caller: AgentCaller, runId: string): Promise<AgentRunDto> {
    return this.run(caller, { method: 'GET', path: AGENT_INTERNAL_ROUTES.run(runId) });
  }

  /** stop / review / undo, after checking the run is this notebook's. */
  async act(
    caller: AgentCaller,
    runId: string,
    action: 'stop' | 'review' | 'undo',
    body?: AgentReviewRequest,
  ): Promise<AgentRunDto> {
    await this.get(caller, runId);
    return this.run(caller, {
      method: 'POST',
      path: AGENT_INTERNAL_ROUTES.action(runId, action),
      body: body ?? {},
    });
  }

  /** The org's LLM provider settings (the caller is an admin of `orgId`; the gateway's route table checked it). */
  settings(
    caller: { userId: string; orgId: string },
    orgId: string,
    body?: PutAgentSettingsRequest,
  ): Promise<AgentSettingsDto> {
    return this.http.json<AgentSettingsDto>({
      method: body === undefined ? 'GET' : 'PUT',
      path: AGENT_INTERNAL_ROUTES.settings(orgId),
      headers: {
        [AGENT_CALLER_HEADERS.userId]: caller.userId,
        [AGENT_CALLER_HEADERS.orgId]: caller.orgId,
        [AGENT_CALLER_HEADERS.orgRole]: 'admin',
      },
      ...(body === undefined ? {} : { body }),
    });
  }

  /** The run's event stream, unread (the controller pipes it to the browser). */
  async events(
    caller: AgentCaller,
    runId: string,
    signal: AbortSignal,
    lastEventId?: string,
  ): Promise<Response> {
    await this.get(caller, runId);
    return this.http.stream(
      {
        method: 'GET',
        path: AGENT_INTERNAL_ROUTES.events(runId),
        headers: { ...callerHeaders(caller), ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
      },
      signal,
    );
  }

  private async run(
    caller: AgentCaller,
    call: { method: 'GET' | 'POST'; path: string; body?: unknown },
  ): Promise<AgentRunDto> {
    const run = await this.http.json<AgentRunDto>({ ...call, headers: callerHeaders(caller) });
    if (run?.notebookId !== caller.notebookId)
      throw new QuireError('not_found', 'this notebook has no such agent run', 'agent.run_not_found');
    return run;
  }
}

/** Header values are ASCII: the user's name travels percent-encoded (UTF-8). */
export function callerHeaders(caller: AgentCaller): Record<string, string> {
  return {
    [AGENT_CALLER_HEADERS.userId]: caller.userId,
    [AGENT_CALLER_HEADERS.userName]: encodeURIComponent(caller.userName),
    [AGENT_CALLER_HEADERS.orgId]: caller.orgId,
    [AGENT_CALLER_HEADERS.role]: caller.role,
    [AGENT_CALLER_HEADERS.kernelId]: caller.kernelId,
    [AGENT_CALLER_HEADERS.notebookId]: caller.notebookId,
  };
}
