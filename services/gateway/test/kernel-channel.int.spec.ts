import {
  KernelDied,
  KernelStateChanged,
  TOPICS,
  type AuthResponse,
  type EventEnvelope,
  type NotebookSummary,
} from '@quire/contracts';
import { createKafka, createProducer, EventConsumer, EventProducer } from '@quire/contracts/kafka';
import { platformVar } from '@quire/service-kit';
import WebSocket from 'ws';
import * as Y from 'yjs';
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
 * The execute path end to end on real services: doc-sync (documents), a host
 * worker with gVisor kernels, Kafka (exec.v1), the gateway in between.
 */
describe('kernel channel: queue, fan-out, outputs in the document, background runs', () => {
  let docSync: ServiceProcess;
  let host: ServiceProcess;
  let gw: GatewayUnderTest;
  let alice: AuthResponse;
  let bob: AuthResponse;
  let vera: AuthResponse;
  let nb: NotebookSummary;
  let consumer: EventConsumer;
  const events: EventEnvelope[] = [];
  const wsUrl = () => `ws://127.0.0.1:${gw.port}/api/notebooks/${nb.id}/kernel-channel`;

  beforeAll(async () => {
    [docSync, host] = await Promise.all([startDocSync(), startHostWorker()]);
    gw = await bootGateway({
      QUIRE_DOC_SYNC_URL: docSync.base,
      QUIRE_KERNEL_PROVIDER: 'direct',
      QUIRE_HOST_WORKER_URL: host.base,
    });
    alice = await signup(gw.base, 'alice', 'Exec Org');
    bob = await joinOrg(gw.base, alice.token, 'bob');
    vera = await joinOrg(gw.base, alice.token, 'vera');
    nb = await createNotebook(gw.base, alice.token, 'Exec');
    const put = await api(gw.base, 'PUT', `/api/notebooks/${nb.id}/shares`, {
      token: alice.token,
      body: {
        shares: [
          { email: bob.user.email, role: 'runner' },
          { email: vera.user.email, role: 'viewer' },
        ],
      },
    });
    expect(put.status).toBe(200);
    consumer = new EventConsumer({
      kafka: createKafka({ brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','), clientId: 'gw-it' }),
      groupId: `gw-it-${nb.id}`,
      topics: [TOPICS.exec.name],
      fromBeginning: true,
      handler: async (e) => {
        if (e.subject === nb.kernelId) events.push(e);
      },
    });
    await consumer.start();
  });

  afterAll(async () => {
    const timed = async (what: string, p: Promise<unknown> | undefined) => {
      const t0 = Date.now();
      await Promise.race([p, new Promise((r) => setTimeout(r, 20_000))]);
      console.log(`${what} stopped in ${Date.now() - t0} ms`);
    };
    await timed('consumer', consumer?.stop());
    await timed('gateway', gw?.close());
    await timed('doc-sync', docSync?.stop());
    await timed('host', host?.stop());
  });

  it('two users run at once: the second is queued at position 1, both see the queue and both cells’ outputs', async () => {
    const docA = await DocClient.open(gw.base, alice.token, nb.id);
    docA.addCode(
      'slow',
      'import time\nprint("alice starts", flush=True)\ntime.sleep(2)\nprint("alice done")\n6 * 7',
    );
    docA.addCode('fast', 'print("bob was here")');
    const a = await ChannelClient.open(wsUrl(), alice.token);
    const b = await ChannelClient.open(wsUrl(), bob.token);
    await until('bob sees the cells', () => (b ? docA.cell('fast') : undefined));

    const execA = (await a.run(['slow']))[0]!;
    // Alice's cell is running (its first output has arrived) before Bob presses Run.
    await until('alice running', () => b.of('iopub').find((m) => m.executionId === execA), 90_000);
    const execB = (await b.run(['fast']))[0]!;

    for (const c of [a, b]) {
      await until('queue with bob at position 1', () =>
        c
          .of('queue')
          .find(
            (q) =>
              q.entries.some((e) => e.executionId === execA && e.position === 0) &&
              q.entries.some((e) => e.executionId === execB && e.position === 1 && e.userId === bob.user.id),
          ),
      );
    }
    const [finA, finB] = await Promise.all([a.finished(execA), a.finished(execB)]);
    expect(finA).toMatchObject({ status: 'ok', cellId: 'slow' });
    expect(finB).toMatchObject({ status: 'ok', cellId: 'fast' });
    expect(finB.executionCount).toBe(finA.executionCount! + 1);
    // Every IOPub message reached both collaborators, as it arrived.
    for (const c of [a, b]) {
      const texts = c
        .of('iopub')
        .filter((m) => m.msgType === 'stream')
        .map((m) => String(m.content.text))
        .join('');
      expect(texts).toContain('alice starts');
      expect(texts).toContain('bob was here');
    }
    // The outputs are in the document for everyone.
    await until(
      'outputs in doc',
      () => docA.stdout('fast').includes('bob was here') && docA.execution('fast')?.status === 'ok',
    );
    expect(docA.stdout('slow')).toBe('alice starts\nalice done\n');
    expect(docA.outputs('slow').find((o) => o.output_type === 'execute_result')).toMatchObject({
      data: { 'text/plain': '42' },
    });
    expect(docA.cell('slow')!.get('execution_count')).toBe(finA.executionCount);
    expect(docA.execution('slow')).toMatchObject({ status: 'ok', userId: alice.user.id, executionId: execA });
    expect(docA.execution('fast')).toMatchObject({ status: 'ok', userId: bob.user.id, userName: 'bob' });

    // exec.v1 tells the same story.
    await until(
      'exec events',
      () => events.filter((e) => e.type === 'quire.exec.ExecuteCompleted').length >= 2,
    );
    const of = (id: string) =>
      events
        .filter((e) => (e.data as { executionId?: string }).executionId === id)
        .map((e) => e.type.split('.').at(-1));
    expect(of(execA)).toEqual(['ExecuteRequested', 'ExecuteStarted', 'ExecuteCompleted']);
    expect(of(execB)).toEqual(['ExecuteRequested', 'ExecuteQueued', 'ExecuteStarted', 'ExecuteCompleted']);
    expect(events.find((e) => e.type === 'quire.exec.ExecuteQueued')!.data).toMatchObject({
      position: 1,
      userId: bob.user.id,
    });
    a.close();
    b.close();
    docA.close();
  });

  it('runs a cell as its author last typed it, even when the keystrokes reach the server after Run', async () => {
    const doc = await DocClient.open(gw.base, alice.token, nb.id);
    doc.addCode('typed', 'print("old")');
    const a = await ChannelClient.open(wsUrl(), alice.token);
    await a.run(['typed']);
    await until('first run', () => doc.stdout('typed') === 'old\n', 60_000);

    // Alice's edit, held back from doc-sync for a moment (a slow hop): a draft replica.
    const draft = new Y.Doc();
    Y.applyUpdate(draft, Y.encodeStateAsUpdate(doc.doc));
    const cell = draft
      .getArray<Y.Map<unknown>>('cells')
      .toArray()
      .find((c) => c.get('id') === 'typed')!;
    const text = cell.get('source') as Y.Text;
    draft.transact(() => {
      text.delete(0, text.length);
      text.insert(0, 'print("new")');
    });
    const held = Y.encodeStateAsUpdate(draft, Y.encodeStateVector(doc.doc));
    const reply = a.request({
      type: 'run',
      cellIds: ['typed'],
      editsUpTo: { clientId: draft.clientID, clock: Y.getState(draft.store, draft.clientID) },
    });
    await new Promise((r) => setTimeout(r, 700));
    Y.applyUpdate(doc.doc, held); // now the edit travels: this client → doc-sync → the gateway's copy
    expect(await reply).toMatchObject({ type: 'ack' });
    await until('ran the new code', () => doc.stdout('typed') === 'new\n', 60_000);

    // Edits that never arrive: a clear refusal after a bounded wait, nothing run.
    expect(
      await a.request({ type: 'run', cellIds: ['typed'], editsUpTo: { clientId: 424242, clock: 7 } }),
    ).toMatchObject({ type: 'error', code: 'docs.edits_pending' });
    expect(doc.stdout('typed')).toBe('new\n');
    a.close();
    doc.close();
  });

  it('completions and docs come from the live kernel, beside the queue; viewers may not ask', async () => {
    const doc = await DocClient.open(gw.base, alice.token, nb.id);
    doc.addCode('frame', "import pandas as pd\ndf = pd.DataFrame({'amount': [1, 2], 'region': ['n', 's']})");
    doc.addCode('busy', 'import time\ntime.sleep(3)');
    const a = await ChannelClient.open(wsUrl(), alice.token);
    const [run] = await a.run(['frame']);
    await a.finished(run!);
    // A DataFrame's columns, which only the kernel knows.
    const code = 'df["';
    const cols = await a.request({ type: 'complete', code, cursorPos: code.length });
    expect(cols).toMatchObject({ type: 'complete_reply', cursorEnd: code.length });
    expect(JSON.stringify((cols as { matches: string[] }).matches)).toContain('amount');
    const attr = await a.request({ type: 'complete', code: 'df.reg', cursorPos: 6 });
    // IPython's own completer answers `.region` from the dot (cursor_start 2); jedi would say `region` from 3.
    expect((attr as { matches: string[] }).matches.some((m) => m.endsWith('region'))).toBe(true);
    // Unicode: positions are code points (the protocol's), so an emoji before the cursor is one.
    const emoji = 's = "😀"; df.reg';
    const withEmoji = await a.request({ type: 'complete', code: emoji, cursorPos: [...emoji].length });
    expect(withEmoji).toMatchObject({ cursorEnd: [...emoji].length });
    const doc1 = await a.request({ type: 'inspect', code: 'len', cursorPos: 3 });
    expect(doc1).toMatchObject({ type: 'inspect_reply', found: true });
    expect((doc1 as { text: string }).text).toMatch(/number of items/);
    expect((doc1 as { text: string }).text).not.toContain(String.fromCharCode(27)); // no ANSI colours
    const nothing = await a.request({ type: 'inspect', code: 'no_such_name_here', cursorPos: 17 });
    expect(nothing).toMatchObject({ type: 'inspect_reply', found: false });
    // Asked while a cell runs: never queued behind runs; the kernel answers once its cell is done
    // (ipykernel handles shell requests in order).
    const [busy] = await a.run(['busy']);
    const t0 = Date.now();
    const during = await a.request({ type: 'complete', code: 'df.reg', cursorPos: 6 });
    expect((during as { matches: string[] }).matches.some((m) => m.endsWith('region'))).toBe(true);
    console.log(`completion during a 3 s cell answered after ${Date.now() - t0} ms`);
    await a.finished(busy!);
    const v = await ChannelClient.open(wsUrl(), vera.token);
    expect(await v.request({ type: 'complete', code, cursorPos: 4 })).toMatchObject({
      type: 'error',
      code: 'access.role',
    });
    v.close();
    a.close();
    doc.close();
  });

  it('a viewer watches but cannot run; bad messages get an error and the socket stays open', async () => {
    const v = await ChannelClient.open(wsUrl(), vera.token);
    expect(v.of('hello')[0]).toMatchObject({ role: 'viewer' });
    expect(await v.request({ type: 'run', cellIds: ['fast'] })).toMatchObject({
      type: 'error',
      code: 'access.role',
    });
    expect(await v.request({ type: 'interrupt' })).toMatchObject({ type: 'error', code: 'access.role' });
    v.ws.send('{not json');
    await until('error for garbage', () => v.of('error').find((e) => e.code === 'channel.bad_message'));
    expect(await v.request({ type: 'run', cellIds: [] })).toMatchObject({
      type: 'error',
      code: 'channel.bad_message',
    });
    expect(v.ws.readyState).toBe(WebSocket.OPEN);
    v.close();
  });

  it('pushes the lifecycle’s kernel states (kernel.lifecycle.v1) to everyone watching', async () => {
    const v = await ChannelClient.open(wsUrl(), vera.token);
    const producer = createProducer(
      createKafka({ brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','), clientId: 'gw-it-lifecycle' }),
    );
    await producer.connect();
    try {
      // Stands in for the lifecycle workflow's publisher (its topic); the gateway only reads it.
      const events = new EventProducer(producer, 'workflows', 'gw-it');
      const base = { kernelId: nb.kernelId, notebookId: nb.id, hostId: null, tier: 'free' as const };
      await events.publish(KernelStateChanged, {
        subject: nb.kernelId,
        tenant: alice.org.id,
        data: { ...base, from: 'IDLE', to: 'HIBERNATED', reason: 'idle for 5 min' },
      });
      await until(
        'hibernated',
        () => v.of('kernel_status').find((s) => s.status.state === 'hibernated'),
        30_000,
      );
      await events.publish(KernelDied, {
        subject: nb.kernelId,
        tenant: alice.org.id,
        data: {
          kernelId: nb.kernelId,
          notebookId: nb.id,
          reason: 'oom',
          message: 'Kernel died (out of memory at 1.0 GiB / 1 GiB)',
          cellId: null,
        },
      });
      const dead = await until(
        'dead',
        () => v.of('kernel_status').find((s) => s.status.state === 'dead'),
        30_000,
      );
      expect(dead.status).toEqual({
        state: 'dead',
        reason: 'oom',
        message: 'Kernel died (out of memory at 1.0 GiB / 1 GiB)',
      });
    } finally {
      await producer.disconnect();
      v.close();
    }
  });

  it('refuses a handshake from a foreign Origin, without a token, and closes a 10 MB frame with 1009', async () => {
    await expect(ChannelClient.open(wsUrl(), alice.token, 'https://evil.example')).rejects.toThrow(/403/);
    await expect(ChannelClient.open(wsUrl(), 'garbage')).rejects.toThrow(/401/);
    const own = await ChannelClient.open(wsUrl(), alice.token, `http://127.0.0.1:${gw.port}`);
    const closed = new Promise<number>((r) => own.ws.once('close', (code) => r(code)));
    own.ws.send(Buffer.alloc(10 * 1024 * 1024, 97));
    expect(await closed).toBe(1009);
  });

  it('runs on when everyone leaves; the outputs are in the document on return', async () => {
    const doc = await DocClient.open(gw.base, alice.token, nb.id);
    doc.addCode('bg', 'import time\ntime.sleep(3)\nprint("finished alone")');
    await until('cell synced', () => doc.cell('bg'));
    const a = await ChannelClient.open(wsUrl(), alice.token);
    await a.run(['bg']);
    a.close();
    doc.close();
    await new Promise((r) => setTimeout(r, 5000));
    const back = await DocClient.open(gw.base, bob.token, nb.id);
    await until(
      'background output',
      () => back.stdout('bg') === 'finished alone\n' && back.execution('bg')?.status === 'ok',
      30_000,
    );
    back.close();
  });

  it('interrupts a running cell, answers input(), and aborts the rest of a failed Run All', async () => {
    const doc = await DocClient.open(gw.base, alice.token, nb.id);
    doc.addCode('sleepy', 'import time\ntime.sleep(60)');
    doc.addCode('ask', 'name = input("name? ")\nprint("hi", name)');
    await until('cells synced', () => doc.cell('ask'));
    const a = await ChannelClient.open(wsUrl(), alice.token);
    const [sleepy] = await a.run(['sleepy']);
    await until(
      'sleepy running',
      () =>
        a.of('kernel_status').some((s) => s.status.state === 'busy') &&
        a.of('queue').at(-1)?.entries[0]?.executionId === sleepy,
    );
    await new Promise((r) => setTimeout(r, 500));
    // A queued run can be cancelled: it never runs and its cell says so.
    const [queued] = ((await a.request({ type: 'run', cellIds: ['ask'] })) as { executionIds: string[] })
      .executionIds;
    expect(await a.request({ type: 'cancel', executionId: queued })).toMatchObject({ type: 'ack' });
    expect(await a.finished(queued!)).toMatchObject({ status: 'aborted', cellId: 'ask' });
    expect(await a.request({ type: 'cancel', executionId: sleepy })).toMatchObject({
      type: 'error',
      code: 'kernel.not_queued',
    });
    await until('aborted in doc', () => doc.execution('ask')?.status === 'aborted');
    const t0 = Date.now();
    expect(await a.request({ type: 'interrupt' })).toMatchObject({ type: 'ack' });
    expect(await a.finished(sleepy!)).toMatchObject({ status: 'interrupted' });
    expect(Date.now() - t0).toBeLessThan(10_000);

    const [ask] = ((await a.request({ type: 'run', cellIds: ['ask'] })) as { executionIds: string[] })
      .executionIds;
    const req = await until(
      'input request',
      () => a.of('input_request').find((m) => m.executionId === ask),
      30_000,
    );
    expect(req.prompt).toBe('name? ');
    expect(await a.request({ type: 'input_reply', executionId: ask, value: 'bob' })).toMatchObject({
      type: 'ack',
    });
    expect(await a.finished(ask!)).toMatchObject({ status: 'ok' });
    await until('input output in doc', () => doc.stdout('ask').includes('hi bob'));

    // Run All: the first failing cell stops the batch, later cells are aborted, not run.
    doc.doc.transact(() => {
      for (const c of doc.cells.toArray()) {
        const src = c.get('source') as import('yjs').Text;
        if (c.get('id') === 'sleepy') {
          src.delete(0, src.length);
          src.insert(0, 'raise ValueError("boom")');
        }
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    const all = (await a.request({ type: 'run_all' })) as { executionIds: string[] };
    expect(all.executionIds.length).toBe(doc.cells.length);
    const finishes = await Promise.all(all.executionIds.map((id) => a.finished(id)));
    const byCell = Object.fromEntries(finishes.map((f) => [f.cellId, f.status]));
    expect(byCell.sleepy).toBe('error');
    expect(byCell.ask).toBe('aborted');
    expect(byCell.slow).toBe('ok'); // before the failing cell
    await until('error output in doc', () =>
      doc.outputs('sleepy').some((o) => o.output_type === 'error' && o.ename === 'ValueError'),
    );
    a.close();
    doc.close();
  });
});
