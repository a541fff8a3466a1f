import { randomBytes } from 'node:crypto';
import {
  uuidv7,
  type AgentRunDto,
  type AgentSettingsDto,
  type AuthResponse,
  type OrgInviteResponse,
} from '@quire/contracts';
import { freePort, startServiceProcess, stopServiceProcess, type ServiceProcess } from '@quire/service-kit';
import {
  api,
  createNotebook,
  signup,
  startDocSync,
  until,
  workflowBundleFile,
} from './support/agent-platform';
import { openAiScript, ScriptedLlmServer } from './support/scripted-llm-server';

jest.setTimeout(240_000);

/**
 * Per-org LLM provider settings through the real gateway and agent service
 * (PostgreSQL, Temporal, doc-sync, a scripted OpenAI-compatible server): an
 * org admin sets provider, model, prices and key; a member (a notebook
 * editor) can neither change nor read them; the key never appears in any
 * answer or in either service's log; a run of the org calls the org's base
 * URL with the org's key, and a provider that refuses it ends the run with
 * llm_error naming the provider.
 */
describe('agent settings per org (gateway → agent service)', () => {
  const schema = `agent_set_${uuidv7().replace(/-/g, '').slice(-12)}`;
  const taskQueue = `quire-agent-settings-it-${uuidv7()}`;
  const orgKey = `sk-org-${randomBytes(12).toString('hex')}`;
  const defaultKey = `sk-default-${randomBytes(8).toString('hex')}`;
  let docSync: ServiceProcess;
  let gateway: ServiceProcess;
  let agent: ServiceProcess;
  let orgLlm: ScriptedLlmServer;
  let defaultLlm: ScriptedLlmServer;
  let admin: AuthResponse;
  let member: AuthResponse;

  beforeAll(async () => {
    orgLlm = await ScriptedLlmServer.start();
    defaultLlm = await ScriptedLlmServer.start();
    const bundle = workflowBundleFile();
    docSync = await startDocSync();
    const gatewayPort = await freePort();
    const agentPort = await freePort();
    agent = await startServiceProcess({
      name: 'agent-settings-it-agent',
      entry: 'services/agent/src/main.ts',
      port: agentPort,
      env: {
        QUIRE_AGENT_PORT: String(agentPort),
        // Debug: the most the service ever logs; the key must still not be in it.
        QUIRE_LOG_LEVEL: 'debug',
        QUIRE_GATEWAY_URL: `http://127.0.0.1:${gatewayPort}`,
        QUIRE_DOC_SYNC_URL: docSync.url,
        QUIRE_AGENT_SCHEMA: schema,
        QUIRE_AGENT_TASK_QUEUE: taskQueue,
        QUIRE_AGENT_LLM_KIND: 'openai',
        QUIRE_AGENT_LLM_BASE_URL: `${defaultLlm.origin}/v1`,
        QUIRE_AGENT_LLM_MODEL: 'default-model',
        QUIRE_AGENT_LLM_API_KEY: defaultKey,
        QUIRE_AGENT_LLM_STREAM: 'false',
        QUIRE_AGENT_SETTINGS_KEY: randomBytes(32).toString('base64'),
        QUIRE_AGENT_WORKFLOW_BUNDLE: await bundle,
        QUIRE_INSTANCE_ID: `agent-settings-it-${process.pid}`,
      },
      readyPath: '/readyz',
      keepLines: Infinity,
    });
    gateway = await startServiceProcess({
      name: 'agent-settings-it-gateway',
      entry: 'services/gateway/src/main.ts',
      port: gatewayPort,
      env: {
        QUIRE_GATEWAY_PORT: String(gatewayPort),
        QUIRE_DOC_SYNC_URL: docSync.url,
        QUIRE_AGENT_URL: agent.url,
        QUIRE_LOG_LEVEL: 'debug',
      },
      readyPath: '/healthz',
      keepLines: Infinity,
    });
    admin = await signup(gateway.url, 'settings-admin');
    const inv = await api<OrgInviteResponse>(gateway.url, 'POST', '/api/org/invites', {
      token: admin.token,
      body: { role: 'member' },
    });
    expect(inv.status).toBe(201);
    const joined = await api<AuthResponse>(gateway.url, 'POST', '/api/auth/signup', {
      body: {
        email: `member-${Date.now().toString(36)}@example.test`,
        name: 'member',
        password: 'correct horse battery',
        invite: inv.body.invite,
      },
    });
    expect(joined.status).toBe(201);
    member = joined.body;
    expect(member.org.id).toBe(admin.org.id);
  });

  afterAll(async () => {
    await stopServiceProcess(gateway, 'SIGTERM', 15_000);
    await stopServiceProcess(agent, 'SIGTERM', 15_000);
    await stopServiceProcess(docSync, 'SIGTERM', 10_000);
    await orgLlm?.stop();
    await defaultLlm?.stop();
  });

  const path = () => `/api/orgs/${admin.org.id}/agent-settings`;
  const put = (token: string, body: unknown) =>
    api<AgentSettingsDto & { code?: string }>(gateway.url, 'PUT', path(), { token, body });
  const runToEnd = async (token: string, notebookId: string) => {
    const started = await api<AgentRunDto>(gateway.url, 'POST', `/api/notebooks/${notebookId}/agent-runs`, {
      token,
      body: { goal: 'say hello', mode: 'auto' },
    });
    expect(started.status).toBe(201);
    return until(
      'the run to finish',
      async () => {
        const r = await api<AgentRunDto>(
          gateway.url,
          'GET',
          `/api/notebooks/${notebookId}/agent-runs/${started.body.runId}`,
          { token },
        );
        return r.body.finishedAt ? r.body : undefined;
      },
      90_000,
    );
  };
  const finishCall = openAiScript.toolCalls(
    [{ id: 'f1', name: 'finish', argumentsJson: JSON.stringify({ summary: 'hello' }) }],
    { prompt: 1_000_000, completion: 100_000 },
  );

  it('shows the deployment default until an admin sets the org’s provider; members cannot read or change it', async () => {
    const before = await api<AgentSettingsDto>(gateway.url, 'GET', path(), { token: admin.token });
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({
      source: 'default',
      kind: 'openai',
      model: 'default-model',
      keyLast4: null,
    });

    const body = {
      kind: 'openai',
      baseUrl: `${orgLlm.origin}/v1`,
      model: 'org-model',
      pricePerMTokens: { prompt: '2.5', completion: '10' },
      apiKey: orgKey,
    };
    const byMember = await put(member.token, body);
    expect(byMember.status).toBe(403);
    expect(byMember.body.code).toBe('access.not_admin');
    const readByMember = await api<{ code: string }>(gateway.url, 'GET', path(), { token: member.token });
    expect(readByMember.status).toBe(403);
    // Another org's settings: not even admins of another org see them.
    const stranger = await signup(gateway.url, 'stranger');
    const other = await api<{ code: string }>(gateway.url, 'GET', path(), { token: stranger.token });
    expect([403, 404]).toContain(other.status);

    const bad = await put(admin.token, {
      ...body,
      kind: 'gpt',
      pricePerMTokens: { prompt: '-1', completion: 'x' },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/kind/);
    expect(JSON.stringify(bad.body)).not.toContain(orgKey);

    const set = await put(admin.token, body);
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      orgId: admin.org.id,
      source: 'org',
      kind: 'openai',
      baseUrl: `${orgLlm.origin}/v1`,
      model: 'org-model',
      pricePerMTokens: { prompt: '2.5', completion: '10' },
      hasKey: true,
      keyLast4: orgKey.slice(-4),
      updatedBy: admin.user.id,
    });
    const read = await api<AgentSettingsDto>(gateway.url, 'GET', path(), { token: admin.token });
    expect(read.body).toEqual(set.body);
    // Leaving the key out keeps it.
    const kept = await put(admin.token, { ...body, apiKey: undefined, model: 'org-model' });
    expect(kept.body).toMatchObject({ hasKey: true, keyLast4: orgKey.slice(-4) });
    for (const r of [set, read, kept, byMember]) expect(JSON.stringify(r.body)).not.toContain(orgKey);
  });

  it('a run of the org calls the org’s base URL with the org’s key, model and prices', async () => {
    const nb = await createNotebook(gateway.url, admin.token, 'settings run');
    orgLlm.reset(finishCall);
    defaultLlm.reset();
    const run = await runToEnd(admin.token, nb.id);
    expect(run).toMatchObject({
      status: 'succeeded',
      finishReason: 'finished',
      provider: { kind: 'openai', model: 'org-model' },
    });
    expect(orgLlm.requests).toHaveLength(1);
    expect(defaultLlm.requests).toHaveLength(0);
    expect(orgLlm.requests[0]!.headers.authorization).toBe(`Bearer ${orgKey}`);
    expect((orgLlm.requests[0]!.body as { model: string }).model).toBe('org-model');
    // 1M prompt tokens at 2.5 + 0.1M completion tokens at 10 per 1M = 3.5.
    expect(run.usage.cost).toBe('3.500000');
  });

  it('a provider that refuses the key ends the run with llm_error naming the provider', async () => {
    const nb = await createNotebook(gateway.url, admin.token, 'refused key');
    orgLlm.reset(openAiScript.error(401, 'Incorrect API key provided'));
    const run = await runToEnd(admin.token, nb.id);
    expect(run.finishReason).toBe('llm_error');
    expect(run.summary).toContain(`openai at ${new URL(orgLlm.origin).host}`);
    expect(run.summary).not.toContain(orgKey);
    expect(orgLlm.requests).toHaveLength(1);
  });

  it('a provider that answers garbage ends the run with llm_error naming the provider (after its retries)', async () => {
    const nb = await createNotebook(gateway.url, admin.token, 'garbage answer');
    const garbage = {
      kind: 'raw' as const,
      contentType: 'application/json',
      body: '{"choices": "not a list',
    };
    orgLlm.reset(garbage, garbage, garbage);
    const run = await runToEnd(admin.token, nb.id);
    expect(run.finishReason).toBe('llm_error');
    expect(run.summary).toContain(`openai at ${new URL(orgLlm.origin).host}`);
    expect(orgLlm.requests).toHaveLength(3);
    expect(defaultLlm.requests).toHaveLength(0);
  });

  it('never writes the key to either service’s log', () => {
    const logs = [...agent.lines, ...gateway.lines].join('\n');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(orgKey);
    expect(logs).not.toContain(defaultKey);
  });
});
