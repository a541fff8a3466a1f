import { TOPICS, type AuthResponse, type EventEnvelope, type NotebookSummary } from '@quire/contracts';
import { createKafka, EventConsumer } from '@quire/contracts/kafka';
import { platformVar } from '@quire/service-kit';
import { SignJWT } from 'jose';
import { ChannelClient, DocClient, until } from './support/clients';
import {
  api,
  bootGateway,
  createNotebook,
  joinOrg,
  signup,
  startDocSync,
  startHostWorker,
  type GatewayUnderTest,
  type ServiceProcess,
} from './support/harness';

jest.setTimeout(300_000);

/**
 * The kernel channel with an agent run's token (TOKEN_AUDIENCES.agent, minted
 * by the agent service): only the notebook it names, with its user's role
 * there, shown as "Agent (for <name>)", its runs origin `agent` on exec.v1
 * (which gives them the agent tier's per-cell cap on the host).
 */
describe('kernel channel: agent tokens', () => {
  let docSync: ServiceProcess;
  let host: ServiceProcess;
  let gw: GatewayUnderTest;
  let alice: AuthResponse;
  let vera: AuthResponse;
  let nb: NotebookSummary;
  let other: NotebookSummary;
  let consumer: EventConsumer;
  const events: EventEnvelope[] = [];
  const wsUrl = (id: string) => `ws://127.0.0.1:${gw.port}/api/notebooks/${id}/kernel-channel`;
  const agentToken = (who: AuthResponse, notebookId: string, aud = 'quire:agent') =>
    new SignJWT({ org: who.org.id, name: who.user.name, nb: notebookId, run: `run-${notebookId}` })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(who.user.id)
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(platformVar('QUIRE_TOKEN_SIGNING_KEY')));

  beforeAll(async () => {
    [docSync, host] = await Promise.all([startDocSync(), startHostWorker()]);
    gw = await bootGateway({
      QUIRE_DOC_SYNC_URL: docSync.base,
      QUIRE_KERNEL_PROVIDER: 'direct',
      QUIRE_HOST_WORKER_URL: host.base,
    });
    alice = await signup(gw.base, 'alice', 'Agent Org');
    vera = await joinOrg(gw.base, alice.token, 'vera');
    nb = await createNotebook(gw.base, alice.token, 'Agent');
    other = await createNotebook(gw.base, alice.token, 'Other');
    const put = await api(gw.base, 'PUT', `/api/notebooks/${nb.id}/shares`, {
      token: alice.token,
      body: { shares: [{ email: vera.user.email, role: 'viewer' }] },
    });
    expect(put.status).toBe(200);
    consumer = new EventConsumer({
      kafka: createKafka({ brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','), clientId: 'gw-agent-it' }),
      groupId: `gw-agent-it-${nb.id}`,
      topics: [TOPICS.exec.name],
      fromBeginning: true,
      handler: async (e) => {
        if (e.subject === nb.kernelId) events.push(e);
      },
    });
    await consumer.start();
  });

  afterAll(async () => {
    await consumer?.stop();
    await gw?.close();
    await docSync?.stop();
    await host?.stop();
  });

  it('opens only its own notebook, and no other route', async () => {
    const token = await agentToken(alice, nb.id);
    const c = await ChannelClient.open(wsUrl(nb.id), token);
    expect(c.of('hello')[0]).toMatchObject({ notebookId: nb.id, userId: alice.user.id, role: 'owner' });
    c.close();
    await expect(ChannelClient.open(wsUrl(other.id), token)).rejects.toThrow(/handshake refused: 403/);
    expect((await api(gw.base, 'GET', '/api/notebooks', { token })).status).toBe(401);
    expect((await api(gw.base, 'GET', `/api/notebooks/${nb.id}`, { token })).status).toBe(401);
    // A forged or mislabelled token is refused at the handshake.
    const wrongAud = await agentToken(alice, nb.id, 'quire:doc');
    await expect(ChannelClient.open(wsUrl(nb.id), wrongAud)).rejects.toThrow(/handshake refused: 401/);
  });

  it('carries its user’s role: an agent for a viewer cannot run', async () => {
    const c = await ChannelClient.open(wsUrl(nb.id), await agentToken(vera, nb.id));
    expect(c.of('hello')[0]).toMatchObject({ role: 'viewer' });
    expect(await c.request({ type: 'run', cellIds: ['x'] })).toMatchObject({
      type: 'error',
      code: 'access.role',
    });
    c.close();
  });

  it('runs as "Agent (for alice)" with origin agent on exec.v1', async () => {
    const doc = await DocClient.open(gw.base, alice.token, nb.id);
    doc.addCode('agent-cell', 'print("from the agent")');
    const person = await ChannelClient.open(wsUrl(nb.id), alice.token);
    const agent = await ChannelClient.open(wsUrl(nb.id), await agentToken(alice, nb.id));
    const [executionId] = await agent.run(['agent-cell']);
    expect(await agent.finished(executionId!, 120_000)).toMatchObject({ status: 'ok', cellId: 'agent-cell' });
    // Collaborators see who runs it.
    expect(
      person
        .of('queue')
        .some((q) =>
          q.entries.some((e) => e.executionId === executionId && e.userName === 'Agent (for alice)'),
        ),
    ).toBe(true);
    await until(
      'outputs in doc',
      () => doc.stdout('agent-cell') === 'from the agent\n' && doc.execution('agent-cell')?.status === 'ok',
      30_000,
    );
    expect(doc.execution('agent-cell')).toMatchObject({
      userId: alice.user.id,
      userName: 'Agent (for alice)',
    });
    const requested = await until('ExecuteRequested', () =>
      events.find(
        (e) =>
          e.type === 'quire.exec.ExecuteRequested' &&
          (e.data as { executionId?: string }).executionId === executionId,
      ),
    );
    expect(requested.data).toMatchObject({ origin: 'agent', userId: alice.user.id });
    agent.close();
    person.close();
    doc.close();
  });
});
