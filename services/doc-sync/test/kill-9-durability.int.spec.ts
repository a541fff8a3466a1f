import { platformVar } from '@quire/service-kit';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import * as Y from 'yjs';
import { api, REPO, startDocSync, testSchema, type DocSyncProcess } from './support/doc-sync-process';
import { docToken } from './support/tokens';
import { connect, eventually } from './support/y-client';

/**
 * Acceptance: kill -9 doc-sync while 20 editors (20 OS processes, stock
 * y-websocket clients) type; restart it: no acknowledged edit is lost and no
 * cell is duplicated. The editors are killed with the server, so nothing they
 * still hold in memory can be re-sent on reconnect: what survives is only what
 * doc-sync itself stored. The ops-log interval is the default 5 s, so most
 * acknowledged edits exist only in the write-ahead log at the moment of the kill.
 */
const EDITORS = 20;
const RATE = 5; // tokens per second per editor (each token edits two cells)

interface Editor {
  proc: ChildProcess;
  ready: boolean;
  acked: number;
}

describe('kill -9 under 20 editors', () => {
  let svc: DocSyncProcess;
  const editors: Editor[] = [];
  const schema = testSchema('kill9');

  afterAll(async () => {
    for (const e of editors) e.proc.kill('SIGKILL');
    if (svc) {
      await svc.stop();
      writeFileSync(join(tmpdir(), 'doc-sync-kill9.int.log'), svc.logs.join(''));
    }
  });

  it('keeps every acknowledged edit and duplicates no cell', async () => {
    const key = platformVar('QUIRE_TOKEN_SIGNING_KEY');
    svc = await startDocSync({ QUIRE_DOC_SYNC_SCHEMA: schema });
    const nb = `nb-kill9-${Date.now().toString(36)}`;
    const service = await docToken(key, { nb, role: 'service', org: 'org-k', sub: 'service:gateway' });
    expect(
      (await api(svc.http, 'POST', `/internal/notebooks/${nb}`, service, { title: 'k', createdBy: 'u-1' }))
        .status,
    ).toBe(201);

    for (let i = 0; i < EDITORS; i++) {
      const token = await docToken(key, { nb, role: 'editor', org: 'org-k', sub: `user-${i}` });
      const proc = spawn(
        process.execPath,
        [join(__dirname, 'support', 'editor-process.mjs'), svc.ws, nb, String(i), String(RATE)],
        {
          cwd: REPO,
          env: { ...process.env, DOC_TOKEN: token },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const e: Editor = { proc, ready: false, acked: 0 };
      let buf = '';
      proc.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === 'READY') e.ready = true;
          else if (line.startsWith('ACK ')) e.acked = Math.max(e.acked, Number(line.slice(4)));
        }
      });
      editors.push(e);
    }
    await eventually(
      () => editors.every((e) => e.acked >= 10),
      () =>
        `every editor has 10+ acknowledged edits (ready: ${editors.map((e) => +e.ready).join('')}, acked: ${editors.map((e) => e.acked).join(',')})\n${svc.logs.join('').slice(-2000)}`,
      90_000,
    );

    // Mid-typing: the server dies first, then every editor, so no client can re-send anything.
    await svc.kill9();
    for (const e of editors) e.proc.kill('SIGKILL');
    await Promise.all(
      editors.map(
        (e) =>
          new Promise((r) =>
            e.proc.exitCode !== null || e.proc.signalCode ? r(null) : e.proc.once('exit', r),
          ),
      ),
    );
    const acked = editors.map((e) => e.acked);

    svc = await startDocSync({ QUIRE_DOC_SYNC_SCHEMA: schema }, svc.port);
    const reader = connect(
      svc.ws,
      nb,
      await docToken(key, { nb, role: 'viewer', org: 'org-k', sub: 'auditor' }),
    );
    try {
      await reader.synced;
      const cells = reader.doc.getArray<Y.Map<unknown>>('cells').toArray();
      const ids = cells.map((c) => String(c.get('id')));
      expect(new Set(ids).size).toBe(ids.length); // no duplicated cell
      expect(cells.length).toBe(1 + EDITORS);
      const shared = String(cells[0]!.get('source'));
      let lostOwn = 0;
      let lostShared = 0;
      for (let i = 0; i < EDITORS; i++) {
        const me = String(i).padStart(2, '0');
        const own = cells.filter((c) => c.get('id') === `editor-${me}`);
        expect(own).toHaveLength(1);
        const text = String(own[0]!.get('source'));
        // Tokens 1..acked-1 were acknowledged (token 0 is the cell itself).
        for (let k = 1; k < acked[i]!; k++) {
          if (!text.includes(`${me}:${k};`)) lostOwn++;
          if (!shared.includes(`<${me}:${k}>`)) lostShared++;
        }
        const tokens = text.split(';').filter(Boolean);
        expect(new Set(tokens).size).toBe(tokens.length); // nothing applied twice
      }
      expect({ lostOwn, lostShared }).toEqual({ lostOwn: 0, lostShared: 0 });
      const total = acked.reduce((a, b) => a + b, 0);
      console.log(
        `kill -9: ${EDITORS} editors, ${total} acknowledged edits (each into 2 cells), 0 lost, ${cells.length} cells, no duplicates`,
      );
      // A clean stop (SIGTERM) with the reader still connected snapshots what was replayed from the log.
      expect(await svc.stop()).toEqual({ code: null, signal: 'SIGTERM' });
    } finally {
      reader.destroy();
    }
    const pool = new Pool({ connectionString: platformVar('QUIRE_POSTGRES_URL'), max: 1 });
    try {
      const { rows } = await pool.query<{ reason: string }>(
        `SELECT reason FROM ${schema}.snapshots WHERE notebook_id = $1 ORDER BY seq`,
        [nb],
      );
      expect(rows.map((r) => r.reason)).toEqual(['import', 'shutdown']);
    } finally {
      await pool.end();
    }
  }, 180_000);
});
