import { createPostgresPool, createS3Client, platformVar, runMigrations } from '@quire/service-kit';
import { join } from 'node:path';
import type { Pool } from 'pg';
import * as Y from 'yjs';
import { closeCodeFor } from '../src/errors';
import { Persistence } from '../src/extensions/persistence';
import { DocumentStore } from '../src/persistence/document-store';
import { decodeOps, opsPrefix } from '../src/persistence/ops-log-codec';
import { DocumentSession } from '../src/server/document-session';
import type { PersistedContext } from '../src/server/hooks';
import type { BlobStore } from '../src/storage/blob-store';
import { S3BlobStore } from '../src/storage/s3-blob-store';
import { testSchema } from './support/doc-sync-process';

/** The persistence extension's hooks against the real PostgreSQL and S3. */
const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('persistence hooks: onLoad, onChange, onStore', () => {
  const schema = testSchema('persist');
  let pool: Pool;
  let blobs: BlobStore;
  let store: DocumentStore;
  let s3: ReturnType<typeof createS3Client>;
  const sessions: DocumentSession[] = [];
  const persistences: Persistence[] = [];
  let n = 0;

  beforeAll(async () => {
    pool = createPostgresPool(
      { QUIRE_POSTGRES_URL: platformVar('QUIRE_POSTGRES_URL'), QUIRE_POSTGRES_POOL_SIZE: 4 },
      'doc-sync-it',
    );
    await runMigrations(pool, { schema, dir: join(__dirname, '..', 'migrations') });
    s3 = createS3Client({
      QUIRE_S3_ENDPOINT: platformVar('QUIRE_S3_ENDPOINT'),
      QUIRE_S3_REGION: 'us-east-1',
      QUIRE_S3_ACCESS_KEY_ID: platformVar('QUIRE_S3_ACCESS_KEY_ID'),
      QUIRE_S3_SECRET_ACCESS_KEY: platformVar('QUIRE_S3_SECRET_ACCESS_KEY'),
      QUIRE_S3_FORCE_PATH_STYLE: true,
    });
    blobs = new S3BlobStore(s3, 'quire-documents', `${schema}/`);
    store = new DocumentStore(pool, schema, blobs);
  });

  afterAll(async () => {
    for (const p of persistences)
      for (const s of sessions) p.onUnload({ notebookId: s.notebookId, session: s });
    for (const s of sessions) s.destroy();
    await pool.end();
    s3.destroy();
  });

  async function notebook(text: string): Promise<string> {
    const id = `nb-p${++n}-${Date.now().toString(36)}`;
    const d = new Y.Doc();
    d.getText('t').insert(0, text);
    await store.createNotebook(
      { id, org: 'o', title: 't', createdBy: 'u' },
      { seq: 1, reason: 'import', state: Y.encodeStateAsUpdate(d), cells: 0 },
    );
    return id;
  }

  function open(p: Persistence, id: string): Promise<DocumentSession> {
    const s = new DocumentSession(id);
    sessions.push(s);
    return p.onLoad({ notebookId: id, session: s }).then(() => s);
  }

  /** Applies an edit the way the server does: seq, then onChange. */
  function edit(p: Persistence, s: DocumentSession, f: (d: Y.Doc) => void): Promise<void> {
    let update: Uint8Array | undefined;
    const h = (u: Uint8Array) => (update = u);
    s.doc.once('update', h);
    f(s.doc);
    return p.onChange({ session: s, update: update!, seq: s.nextSeq(), origin: 'test' });
  }

  function persistence(opsFlushMs = 60_000, events: PersistedContext[] = []): Persistence {
    const p = new Persistence(store, { opsFlushMs, logger });
    p.emit = (e) => events.push(e);
    persistences.push(p);
    return p;
  }

  it('onLoad refuses a notebook that does not exist (4404) and loads the created state', async () => {
    const p = persistence();
    const err = await open(p, 'nb-nope').catch((e: unknown) => e);
    expect(closeCodeFor(err)).toBe(4404);
    const id = await notebook('hello');
    const s = await open(p, id);
    expect(s.doc.getText('t').toString()).toBe('hello');
    expect(s.seq).toBe(1);
  });

  it('onChange resolves only once the update is in the write-ahead log', async () => {
    const p = persistence();
    const id = await notebook('');
    const s = await open(p, id);
    await edit(p, s, (d) => d.getText('t').insert(0, 'durable'));
    const { rows } = await pool.query(`SELECT seq FROM ${schema}.wal WHERE notebook_id = $1`, [id]);
    expect(rows.map((r) => Number(r.seq))).toEqual([2]);
  });

  it('ships the write-ahead log to one S3 ops object per interval, then empties it (DocPersisted ops)', async () => {
    const events: PersistedContext[] = [];
    const p = persistence(150, events);
    const id = await notebook('');
    const s = await open(p, id);
    await Promise.all([1, 2, 3].map((i) => edit(p, s, (d) => d.getText('t').insert(0, `${i}`))));
    await new Promise((r) => setTimeout(r, 600));
    const keys = await blobs.list(opsPrefix(id));
    expect(keys).toEqual([`ops/${id}/000000000004-000000000002.yops`]);
    expect(decodeOps((await blobs.get(keys[0]!))!).map((o) => o.seq)).toEqual([2, 3, 4]);
    expect((await pool.query(`SELECT 1 FROM ${schema}.wal WHERE notebook_id = $1`, [id])).rowCount).toBe(0);
    expect(events).toEqual([{ notebookId: id, org: 'o', kind: 'ops', seq: 4, bytes: expect.any(Number) }]);
  });

  it('onStore snapshots; load = latest snapshot + later S3 ops + later write-ahead rows', async () => {
    const events: PersistedContext[] = [];
    const p = persistence(60_000, events);
    const id = await notebook('a');
    const s = await open(p, id);
    await edit(p, s, (d) => d.getText('t').insert(1, 'b'));
    await p.onStore({ session: s, reason: 'periodic', force: false }); // snapshot at seq 2
    await edit(p, s, (d) => d.getText('t').insert(2, 'c'));
    await p.onStore({ session: s, reason: 'periodic', force: false }); // ships seq 3 to S3, snapshot seq 3
    await edit(p, s, (d) => d.getText('t').insert(3, 'd')); // only in the write-ahead log
    const versions = await store.listVersions(id);
    expect(versions.map((v) => [v.seq, v.reason])).toEqual([
      [3, 'periodic'],
      [2, 'periodic'],
      [1, 'import'],
    ]);
    expect(events.filter((e) => e.kind === 'snapshot').map((e) => e.seq)).toEqual([2, 3]);

    const again = await open(persistence(), id);
    expect(again.doc.getText('t').toString()).toBe('abcd');
    expect(again.seq).toBe(4);
    // Nothing changed since the last snapshot: onStore writes no new version.
    await p.onStore({ session: s, reason: 'periodic', force: false });
    await p.onStore({ session: s, reason: 'periodic', force: false });
    expect((await store.listVersions(id)).length).toBe(4);
  });

  it('onLoad fails (never yields an empty document) when a storage read fails', async () => {
    const id = await notebook('precious');
    const broken = new DocumentStore(pool, schema, {
      ...blobs,
      list: () => Promise.reject(new Error('S3 unreachable')),
    } as BlobStore);
    const p = new Persistence(broken, { opsFlushMs: 60_000, logger });
    persistences.push(p);
    await expect(open(p, id)).rejects.toThrow('S3 unreachable');
  });
});
