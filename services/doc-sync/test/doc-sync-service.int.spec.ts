import { DocPersisted, NotebookCreated, TOPICS } from '@quire/contracts';
import { createKafka, decodeEvent } from '@quire/contracts/kafka';
import { platformVar } from '@quire/service-kit';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import { encodeUpdate } from '../src/protocol/messages';
import { api, startDocSync, testSchema, type DocSyncProcess } from './support/doc-sync-process';
import { docToken, unsignedToken } from './support/tokens';
import { cellText, closeOf, connect, eventually, type Client } from './support/y-client';

/**
 * The real service process (src/main.ts) against the real PostgreSQL and S3,
 * driven by stock y-websocket 3.x clients and the internal HTTP API.
 */
const FIXTURE = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'real-world.ipynb'), 'utf8')) as Record<
  string,
  unknown
>;

describe('doc-sync service', () => {
  let svc: DocSyncProcess;
  let key: string;
  const clients: Client[] = [];
  const run = Date.now().toString(36);
  const nbId = (t: string) => `nb-${t}-${run}`;
  const tok = (
    nb: string,
    role: 'owner' | 'editor' | 'viewer' | 'runner' | 'service' = 'editor',
    extra = {},
  ) =>
    docToken(key, {
      nb,
      role,
      sub: role === 'service' ? 'service:gateway' : `user-${role}`,
      org: 'org-a',
      ...extra,
    });
  const client = (nb: string, token: string, opts: { ack?: boolean } = {}) => {
    const c = connect(svc.ws, nb, token, opts);
    clients.push(c);
    return c;
  };
  const create = async (nb: string, ipynb?: unknown) => {
    const res = await api(svc.http, 'POST', `/internal/notebooks/${nb}`, await tok(nb, 'service'), {
      title: `t ${nb}`,
      createdBy: 'user-owner',
      ...(ipynb ? { ipynb } : {}),
    });
    expect(res.status).toBe(201);
    return res.json as { version: { versionId: string; seq: number } };
  };

  beforeAll(async () => {
    key = platformVar('QUIRE_TOKEN_SIGNING_KEY');
    svc = await startDocSync({
      QUIRE_DOC_SYNC_SCHEMA: testSchema('svc'),
      QUIRE_DOC_SYNC_OPS_FLUSH_MS: '300',
      QUIRE_ALLOWED_ORIGINS: 'http://127.0.0.1:8080,https://quire.example.com',
    });
  }, 120_000);

  afterEach(() => {
    for (const c of clients.splice(0)) c.destroy();
  });

  afterAll(async () => {
    const exit = await svc?.stop();
    writeFileSync(join(tmpdir(), 'doc-sync-service.int.log'), svc?.logs.join('') ?? '');
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' }); // Nest re-raises the signal after a clean shutdown
  });

  it('two stock y-websocket clients type into the same cell at once and converge', async () => {
    const nb = nbId('conv');
    await create(nb);
    const a = client(nb, await tok(nb));
    const b = client(nb, await tok(nb, 'owner'));
    await Promise.all([a.synced, b.synced]);
    const srcA = a.doc.getArray<Y.Map<Y.Text>>('cells').get(0).get('source') as Y.Text;
    const srcB = b.doc.getArray<Y.Map<Y.Text>>('cells').get(0).get('source') as Y.Text;
    for (let i = 0; i < 40; i++) {
      srcA.insert(0, 'a');
      srcB.insert(srcB.length, 'b');
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await eventually(
      () => cellText(a.doc) === cellText(b.doc) && cellText(a.doc).length === 80,
      'both clients converge',
    );
    expect(cellText(a.doc).replace(/b/g, '')).toBe('a'.repeat(40));
    expect(cellText(a.doc).replace(/a/g, '')).toBe('b'.repeat(40));
    // Awareness goes through too (stock presence).
    a.provider.awareness.setLocalStateField('user', { name: 'Ada' });
    await eventually(
      () =>
        [...b.provider.awareness.getStates().values()].some(
          (s) => (s as { user?: { name: string } }).user?.name === 'Ada',
        ),
      'B sees A in awareness',
    );
  });

  it('acknowledges durability only to clients that asked (?ack=1), with a state vector covering their edits', async () => {
    const nb = nbId('ack');
    await create(nb);
    const acked = client(nb, await tok(nb), { ack: true });
    const stock = client(nb, await tok(nb));
    await Promise.all([acked.synced, stock.synced]);
    const cell = acked.doc.getArray<Y.Map<Y.Text>>('cells').get(0);
    (cell.get('source') as Y.Text).insert(0, 'print(1)');
    const myClock = Y.getState(acked.doc.store, acked.doc.clientID);
    await eventually(
      () => acked.durable.some((d) => (d.sv.get(acked.doc.clientID) ?? 0) >= myClock),
      'an ack covering the edit',
    );
    await eventually(() => cellText(stock.doc) === 'print(1)', 'stock client sees the edit');
    expect(stock.durable).toEqual([]);
  });

  it('snapshots when the last client leaves (a restorable version)', async () => {
    const nb = nbId('leave');
    await create(nb);
    const ed = client(nb, await tok(nb), { ack: true });
    await ed.synced;
    (ed.doc.getArray<Y.Map<Y.Text>>('cells').get(0).get('source') as Y.Text).insert(0, 'bye');
    const clock = Y.getState(ed.doc.store, ed.doc.clientID);
    await eventually(() => ed.durable.some((d) => (d.sv.get(ed.doc.clientID) ?? 0) >= clock), 'edit durable');
    ed.provider.disconnect();
    await eventually(async () => {
      const r = await api(svc.http, 'GET', `/internal/notebooks/${nb}/versions`, await tok(nb, 'service'));
      return (r.json as { versions: { reason: string; seq: number }[] }).versions.some(
        (v) => v.reason === 'last-client-left' && v.seq > 1,
      );
    }, 'a last-client-left version');
    const got = await api(svc.http, 'GET', `/internal/notebooks/${nb}/ipynb`, await tok(nb, 'service'));
    expect((got.json as { cells: { source: string[] }[] }).cells[0]!.source).toEqual(['bye']);
  });

  it('a viewer (and a runner) cannot edit: the update is refused with a clear message and not applied', async () => {
    const nb = nbId('ro');
    await create(nb);
    for (const role of ['viewer', 'runner'] as const) {
      const ro = client(nb, await tok(nb, role));
      await ro.synced;
      (ro.doc.getArray<Y.Map<Y.Text>>('cells').get(0).get('source') as Y.Text).insert(0, `hacked by ${role}`);
      await eventually(() => ro.denied.length > 0, `${role} told it is read-only`);
      expect(ro.denied[0]).toBe(`read-only: a ${role} cannot edit this notebook; the change was not applied`);
    }
    const fresh = client(nb, await tok(nb));
    await fresh.synced;
    expect(cellText(fresh.doc)).toBe('');
  });

  it('refuses handshakes: foreign Origin 4403, no/expired/alg-none/forged token 4401, another notebook or org 4403, unknown notebook 4404', async () => {
    const nb = nbId('refuse');
    await create(nb);
    const url = (t: string, id = nb) => `${svc.ws}/${id}?token=${encodeURIComponent(t)}`;
    const good = await tok(nb);
    expect(await closeOf(url(good), { origin: 'https://evil.example' })).toEqual({
      code: 4403,
      reason: 'origin https://evil.example is not allowed',
    });
    expect((await closeOf(`${svc.ws}/${nb}`)).code).toBe(4401);
    expect(
      await closeOf(
        url(
          await tok(nb, 'editor', {}).then(() =>
            docToken(key, { nb }, { expiresIn: Math.floor(Date.now() / 1000) - 1 }),
          ),
        ),
      ),
    ).toEqual({
      code: 4401,
      reason: 'token expired',
    });
    expect((await closeOf(url(unsignedToken({ sub: 'u', org: 'org-a', nb, role: 'owner' })))).code).toBe(
      4401,
    );
    expect((await closeOf(url(await docToken('z'.repeat(40), { nb, org: 'org-a' })))).code).toBe(4401);
    expect((await closeOf(url(await tok('other-nb'), nb))).code).toBe(4403);
    expect(await closeOf(url(await tok(nb, 'owner', { org: 'org-b' })))).toEqual({
      code: 4403,
      reason: 'this token is for another organisation',
    });
    const missing = nbId('missing');
    expect((await closeOf(url(await tok(missing), missing))).code).toBe(4404);
    // An allowed browser origin and the token in the subprotocol work.
    const ok = await new Promise<string>((resolve, reject) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const WS = require('ws') as typeof import('ws');
      const ws = new WS.WebSocket(`${svc.ws}/${nb}`, ['quire.v1', `quire.bearer.${good}`], {
        origin: 'https://quire.example.com',
      });
      ws.on('message', () => {
        resolve(ws.protocol);
        ws.close();
      });
      ws.on('close', (code) => reject(new Error(`closed ${code}`)));
    });
    expect(ok).toBe('quire.v1');
  });

  it('closes a frame over 10 MB with 1009', async () => {
    const nb = nbId('frame');
    await create(nb);
    const res = await closeOf(`${svc.ws}/${nb}?token=${await tok(nb)}`, {
      send: Buffer.alloc(10 * 1024 * 1024 + 1, 1),
    });
    expect(res.code).toBe(1009);
  });

  it('refuses the update that would take a document over 50 MB with 4413 and a clear reason; stored content is intact', async () => {
    const nb = nbId('big');
    await create(nb);
    const editor = client(nb, await tok(nb));
    await editor.synced;
    // Each 9 MB chunk fits in a frame; the sixth would cross 50 MB.
    const WS = (await import('ws')).WebSocket;
    const ws = new WS(`${svc.ws}/${nb}?token=${await tok(nb)}`);
    await new Promise((r) => ws.once('message', r));
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.once('close', (code, reason) => r({ code, reason: reason.toString() })),
    );
    const src = new Y.Doc();
    for (let i = 0; i < 6; i++) {
      const before = Y.encodeStateVector(src);
      src.getText(`blob${i}`).insert(0, String.fromCharCode(97 + i).repeat(9 * 1024 * 1024));
      ws.send(encodeUpdate(Y.encodeStateAsUpdate(src, before)));
    }
    const res = await closed;
    expect(res.code).toBe(4413);
    expect(res.reason).toMatch(
      /^document would be 5\d\.\d MB, over the 50 MB limit; the change was not applied$/,
    );
    // The editor still has a working, consistent document.
    (editor.doc.getArray<Y.Map<Y.Text>>('cells').get(0).get('source') as Y.Text).insert(0, 'still fine');
    const other = client(nb, await tok(nb));
    await eventually(() => cellText(other.doc) === 'still fine', 'document still editable');
  }, 60_000);

  it('internal API: create from .ipynb, export it losslessly, replace, list versions, restore (clients converge), delete', async () => {
    const nb = nbId('api');
    const svcTok = await tok(nb, 'service');
    const created = await create(nb, FIXTURE);
    expect(created.version.seq).toBe(1);
    const got = await api(svc.http, 'GET', `/internal/notebooks/${nb}/ipynb`, svcTok);
    expect(got.status).toBe(200);
    expect(got.json).toEqual(FIXTURE);

    // A connected editor changes a cell; then the API replaces the content.
    const ed = client(nb, await tok(nb));
    await ed.synced;
    (ed.doc.getArray<Y.Map<Y.Text>>('cells').get(1).get('source') as Y.Text).insert(0, '# edited\n');
    await eventually(async () => {
      const r = await api(svc.http, 'GET', `/internal/notebooks/${nb}/ipynb`, svcTok);
      return JSON.stringify(r.json).includes('# edited');
    }, 'edit visible through the API');
    const small = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [{ cell_type: 'markdown', id: 'only', metadata: {}, source: ['replaced'] }],
    };
    expect((await api(svc.http, 'PUT', `/internal/notebooks/${nb}/ipynb`, svcTok, small)).status).toBe(204);
    await eventually(
      () => ed.doc.getArray('cells').length === 1 && cellText(ed.doc) === 'replaced',
      'editor sees the import',
    );

    const versions = (await api(svc.http, 'GET', `/internal/notebooks/${nb}/versions`, svcTok)).json as {
      versions: { versionId: string; seq: number; reason: string; cells: number }[];
    };
    // newest first: the import, the edited state kept before it, the original import.
    expect(versions.versions.map((v) => [v.reason, v.cells])).toEqual([
      ['import', 1],
      ['periodic', 8],
      ['import', 8],
    ]);
    const edited = versions.versions[1]!;
    const restored = await api(
      svc.http,
      'POST',
      `/internal/notebooks/${nb}/versions/${edited.versionId}/restore`,
      svcTok,
    );
    expect(restored.status).toBe(200);
    expect(restored.json).toMatchObject({ reason: 'restore', cells: 8 });
    await eventually(
      () => ed.doc.getArray('cells').length === 8 && cellText(ed.doc, 1).startsWith('# edited\n'),
      'editor converges on the restored version',
    );
    const after = (await api(svc.http, 'GET', `/internal/notebooks/${nb}/versions`, svcTok)).json as {
      versions: unknown[];
    };
    expect(after.versions).toHaveLength(4); // the replaced content is still there to restore

    expect((await api(svc.http, 'DELETE', `/internal/notebooks/${nb}`, svcTok)).status).toBe(204);
    await eventually(() => ed.closes.some((c) => c.code === 4404), 'editor disconnected: notebook deleted');
    expect((await api(svc.http, 'GET', `/internal/notebooks/${nb}/ipynb`, svcTok)).status).toBe(404);
  });

  it('internal API refuses: no token 401, user role 403, token for another notebook 403, bad .ipynb 400, duplicate 409', async () => {
    const nb = nbId('apiref');
    await create(nb);
    const path = `/internal/notebooks/${nb}/ipynb`;
    expect((await api(svc.http, 'GET', path, undefined)).status).toBe(401);
    expect((await api(svc.http, 'GET', path, await tok(nb, 'owner'))).status).toBe(403);
    expect((await api(svc.http, 'GET', path, await tok('elsewhere', 'service'))).status).toBe(403);
    expect((await api(svc.http, 'GET', path, await tok(nb, 'service', { org: 'org-b' }))).status).toBe(403);
    const bad = await api(svc.http, 'PUT', path, await tok(nb, 'service'), {
      nbformat: 4,
      nbformat_minor: 5,
      cells: [{ cell_type: 'code' }],
    });
    expect(bad.status).toBe(400);
    expect((bad.json as { detail: string }).detail).toMatch(
      /^not a valid nbformat 4 notebook: cells\.0\.source/,
    );
    const dup = await api(svc.http, 'POST', `/internal/notebooks/${nb}`, await tok(nb, 'service'), {
      title: 'x',
      createdBy: 'u',
    });
    expect(dup.status).toBe(409);
    // The refused PUT changed nothing.
    const v = (await api(svc.http, 'GET', `/internal/notebooks/${nb}/versions`, await tok(nb, 'service')))
      .json as { versions: unknown[] };
    expect(v.versions).toHaveLength(1);
  });

  it('publishes NotebookCreated and DocPersisted{seq} on doc.v1', async () => {
    const nb = nbId('events');
    await create(nb);
    const ed = client(nb, await tok(nb));
    await ed.synced;
    (ed.doc.getArray<Y.Map<Y.Text>>('cells').get(0).get('source') as Y.Text).insert(0, 'x = 1');
    const kafka = createKafka({
      brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','),
      clientId: `doc-sync-it-${run}`,
    });
    const consumer = kafka.consumer({ groupId: `doc-sync-it-${nb}` });
    const seen: { type: string; data: { seq?: number; kind?: string } }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: TOPICS.doc.name, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const e = decodeEvent(message.headers, message.value) as { subject?: string };
          if (e.subject === nb) seen.push(e as never);
        },
      });
      await eventually(
        () =>
          seen.some((e) => e.type === NotebookCreated.type) &&
          seen.some((e) => e.type === DocPersisted.type && e.data.kind === 'ops' && (e.data.seq ?? 0) >= 2),
        () => `events for ${nb}: ${JSON.stringify(seen)}`,
        40_000,
      );
    } finally {
      await consumer.disconnect();
    }
  }, 60_000);

  it('imports a 5 MB notebook through the API (body limit above the 100 kB default)', async () => {
    const nb = nbId('large');
    const big = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [
        {
          cell_type: 'code',
          id: 'c',
          metadata: {},
          source: 'x = 1',
          execution_count: 1,
          outputs: [{ output_type: 'stream', name: 'stdout', text: 'y'.repeat(5 * 1024 * 1024) }],
        },
      ],
    };
    await create(nb, big);
    const got = await api(svc.http, 'GET', `/internal/notebooks/${nb}/ipynb`, await tok(nb, 'service'));
    expect(JSON.stringify(got.json).length).toBeGreaterThan(5 * 1024 * 1024);
  });
});
