import { platformVar } from '@quire/service-kit';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'pg';
import * as Y from 'yjs';
import { api, startDocSync, testSchema, type DocSyncProcess } from './support/doc-sync-process';
import { TcpProxy } from './support/tcp-proxy';
import { docToken } from './support/tokens';
import { cellText, closeOf, connect, eventually } from './support/y-client';

/**
 * Acceptance: a PostgreSQL outage leaves stored documents untouched. doc-sync
 * reaches the real PostgreSQL through a proxy the test can cut.
 */
const FIXTURE = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'real-world.ipynb'), 'utf8')) as unknown;

describe('PostgreSQL outage', () => {
  let svc: DocSyncProcess;
  let proxy: TcpProxy;
  let direct: Pool;
  const schema = testSchema('pgout');

  const clients: { destroy(): void }[] = [];
  afterAll(async () => {
    for (const c of clients) c.destroy();
    proxy?.restore();
    await svc?.stop();
    await proxy?.stop();
    await direct?.end();
  });

  async function storedState(nb: string): Promise<string> {
    const snaps = await direct.query(
      `SELECT version_id, seq, reason, encode(sha256(state), 'hex') AS h FROM ${schema}.snapshots WHERE notebook_id = $1 ORDER BY version_id`,
      [nb],
    );
    const wal = await direct.query(
      `SELECT seq, encode(sha256("update"), 'hex') AS h FROM ${schema}.wal WHERE notebook_id = $1 ORDER BY seq`,
      [nb],
    );
    return createHash('sha256')
      .update(JSON.stringify([snaps.rows, wal.rows]))
      .digest('hex');
  }

  it('refuses to open a document it cannot load (4503, clear reason), changes nothing, and serves it again afterwards; acknowledges nothing while the write-ahead log is unreachable', async () => {
    const key = platformVar('QUIRE_TOKEN_SIGNING_KEY');
    const pgUrl = new URL(platformVar('QUIRE_POSTGRES_URL'));
    direct = new Pool({ connectionString: pgUrl.toString(), max: 2 });
    proxy = new TcpProxy(pgUrl.hostname, Number(pgUrl.port));
    await proxy.start();
    const viaProxy = new URL(pgUrl);
    viaProxy.port = String(proxy.port);
    svc = await startDocSync({
      QUIRE_DOC_SYNC_SCHEMA: schema,
      QUIRE_POSTGRES_URL: viaProxy.toString(),
      QUIRE_DOC_SYNC_OPS_FLUSH_MS: '200',
    });

    const tok = (nb: string, role: 'editor' | 'service' = 'editor') =>
      docToken(key, { nb, role, org: 'org-p' });
    const stored = `nb-pg-stored-${Date.now().toString(36)}`;
    const open = `nb-pg-open-${Date.now().toString(36)}`;
    for (const nb of [stored, open]) {
      expect(
        (
          await api(svc.http, 'POST', `/internal/notebooks/${nb}`, await tok(nb, 'service'), {
            title: nb,
            createdBy: 'u',
            ipynb: FIXTURE,
          })
        ).status,
      ).toBe(201);
    }
    // `open` stays open in an editor through the outage.
    const editor = connect(svc.ws, open, await tok(open), { ack: true });
    clients.push(editor);
    await editor.synced;
    const before = await storedState(stored);

    proxy.cut();
    const refused = await closeOf(`${svc.ws}/${stored}?token=${await tok(stored)}`);
    expect(refused).toEqual({
      code: 4503,
      reason: 'the document could not be loaded from storage; nothing was changed, try again shortly',
    });
    const http = await api(
      svc.http,
      'GET',
      `/internal/notebooks/${stored}/ipynb`,
      await tok(stored, 'service'),
    );
    expect(http.status).toBe(503);

    // Edits to the open document are applied and shared, but not acknowledged.
    const acksBefore = editor.durable.length;
    (editor.doc.getArray<Y.Map<Y.Text>>('cells').get(1).get('source') as Y.Text).insert(
      0,
      '# during outage\n',
    );
    const clock = Y.getState(editor.doc.store, editor.doc.clientID);
    await new Promise((r) => setTimeout(r, 1500));
    expect(editor.durable.length).toBe(acksBefore);
    expect((await fetch(`${svc.http}/readyz`)).status).toBe(503);

    proxy.restore();
    expect(await storedState(stored)).toBe(before); // the refused load wrote nothing
    await eventually(
      () => editor.durable.some((d) => (d.sv.get(editor.doc.clientID) ?? 0) >= clock),
      'ack after PostgreSQL is back',
      20_000,
    );
    const back = connect(svc.ws, stored, await tok(stored));
    clients.push(back);
    await back.synced;
    expect(back.doc.getArray('cells').length).toBe(8);
    const got = await api(
      svc.http,
      'GET',
      `/internal/notebooks/${stored}/ipynb`,
      await tok(stored, 'service'),
    );
    expect(got.json).toEqual(FIXTURE);
    expect(cellText(editor.doc, 1).startsWith('# during outage\n')).toBe(true);
  }, 90_000);
});
