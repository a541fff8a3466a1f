import type { NotebookVersion } from '@quire/contracts';
import { uuidv7 } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { Pool, PoolClient } from 'pg';
import type { BlobStore } from '../storage/blob-store';
import { decodeOps, encodeOps, opsKey, opsPrefix, parseOpsKey, type OpsEntry } from './ops-log-codec';

export interface NotebookRow {
  id: string;
  org: string;
  title: string;
  createdBy: string;
  createdAt: string;
}

export interface StoredState {
  /** Updates to apply in order: the latest snapshot first, then later ops. */
  updates: Uint8Array[];
  /** Highest seq that is stored anywhere (snapshot, ops log or write-ahead log). */
  seq: number;
  snapshotSeq: number;
  /** Seq up to which the S3 ops log holds everything. */
  opsSeq: number;
}

export type VersionReason = NotebookVersion['reason'];

/**
 * Where a document lives: the notebook row, snapshots and the write-ahead log
 * in PostgreSQL (schema `doc_sync`), the batched ops log in a BlobStore (S3).
 * Every read that fails throws: a caller can never mistake "could not read"
 * for "empty".
 */
export class DocumentStore {
  constructor(
    private readonly pool: Pool,
    private readonly schema: string,
    readonly blobs: BlobStore,
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  }

  private t(name: 'notebooks' | 'snapshots' | 'wal'): string {
    return `${this.schema}.${name}`;
  }

  /** The notebook row and its first version, in one transaction (never a notebook without state). */
  async createNotebook(
    row: Omit<NotebookRow, 'createdAt'>,
    first: { seq: number; reason: VersionReason; state: Uint8Array; cells: number },
  ): Promise<NotebookVersion> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const res = await client.query(
        `INSERT INTO ${this.t('notebooks')} (id, org, title, created_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        [row.id, row.org, row.title, row.createdBy],
      );
      if (!res.rows[0])
        throw new QuireError('conflict', `notebook ${row.id} already exists`, 'notebook.exists');
      const version = await this.insertSnapshot(client, row.id, first);
      await client.query('COMMIT');
      return version;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async getNotebook(id: string): Promise<NotebookRow | undefined> {
    const { rows } = await this.pool.query<{
      id: string;
      org: string;
      title: string;
      created_by: string;
      created_at: Date;
    }>(`SELECT * FROM ${this.t('notebooks')} WHERE id = $1 AND deleted_at IS NULL`, [id]);
    const r = rows[0];
    return (
      r && {
        id: r.id,
        org: r.org,
        title: r.title,
        createdBy: r.created_by,
        createdAt: r.created_at.toISOString(),
      }
    );
  }

  /** Latest snapshot + every later op (S3 ops log, then the write-ahead log). */
  async load(notebookId: string): Promise<StoredState> {
    const { rows: snaps } = await this.pool.query<{ seq: string; state: Buffer }>(
      `SELECT seq, state FROM ${this.t('snapshots')} WHERE notebook_id = $1 ORDER BY seq DESC, created_at DESC LIMIT 1`,
      [notebookId],
    );
    const snapshotSeq = snaps[0] ? Number(snaps[0].seq) : 0;
    const updates: Uint8Array[] = snaps[0] ? [new Uint8Array(snaps[0].state)] : [];
    let seq = snapshotSeq;
    let opsSeq = snapshotSeq;
    const keys = await this.blobs.list(opsPrefix(notebookId));
    for (const key of keys) {
      const range = parseOpsKey(key);
      if (!range || range.to <= snapshotSeq) continue;
      const bytes = await this.blobs.get(key);
      if (!bytes) throw new Error(`ops-log object ${key} disappeared while loading`);
      for (const op of decodeOps(bytes)) if (op.seq > snapshotSeq) updates.push(op.update);
      seq = Math.max(seq, range.to);
      opsSeq = Math.max(opsSeq, range.to);
    }
    const { rows: wal } = await this.pool.query<{ seq: string; update: Buffer }>(
      `SELECT seq, "update" FROM ${this.t('wal')} WHERE notebook_id = $1 AND seq > $2 ORDER BY seq`,
      [notebookId, snapshotSeq],
    );
    for (const w of wal) {
      updates.push(new Uint8Array(w.update));
      seq = Math.max(seq, Number(w.seq));
    }
    return { updates, seq, snapshotSeq, opsSeq };
  }

  /** One multi-row insert: the group commit that makes a batch of updates durable. */
  async appendWal(notebookId: string, entries: OpsEntry[]): Promise<void> {
    if (!entries.length) return;
    const params: unknown[] = [notebookId];
    const values = entries.map((e, i) => {
      params.push(e.seq, Buffer.from(e.update.buffer, e.update.byteOffset, e.update.byteLength));
      return `($1, $${2 * i + 2}, $${2 * i + 3})`;
    });
    await this.pool.query(
      `INSERT INTO ${this.t('wal')} (notebook_id, seq, "update") VALUES ${values.join(', ')}
       ON CONFLICT (notebook_id, seq) DO NOTHING`,
      params,
    );
  }

  /** Write-ahead entries not yet in the ops log (in seq order). */
  async walSince(notebookId: string, afterSeq: number): Promise<OpsEntry[]> {
    const { rows } = await this.pool.query<{ seq: string; update: Buffer }>(
      `SELECT seq, "update" FROM ${this.t('wal')} WHERE notebook_id = $1 AND seq > $2 ORDER BY seq`,
      [notebookId, afterSeq],
    );
    return rows.map((r) => ({ seq: Number(r.seq), update: new Uint8Array(r.update) }));
  }

  /** Moves a batch to the ops log; only after S3 has it are the write-ahead rows removed. */
  async writeOps(notebookId: string, entries: OpsEntry[]): Promise<{ key: string; bytes: number }> {
    const from = entries[0]!.seq;
    const to = entries[entries.length - 1]!.seq;
    const body = encodeOps(entries);
    const key = opsKey(notebookId, from, to);
    await this.blobs.put(key, body);
    await this.pool.query(`DELETE FROM ${this.t('wal')} WHERE notebook_id = $1 AND seq <= $2`, [
      notebookId,
      to,
    ]);
    return { key, bytes: body.byteLength };
  }

  saveSnapshot(
    notebookId: string,
    s: { seq: number; reason: VersionReason; state: Uint8Array; cells: number },
  ): Promise<NotebookVersion> {
    return this.insertSnapshot(this.pool, notebookId, s);
  }

  private async insertSnapshot(
    db: Pool | PoolClient,
    notebookId: string,
    s: { seq: number; reason: VersionReason; state: Uint8Array; cells: number },
  ): Promise<NotebookVersion> {
    const versionId = uuidv7();
    const { rows } = await db.query<{ created_at: Date }>(
      `INSERT INTO ${this.t('snapshots')} (version_id, notebook_id, seq, reason, bytes, cells, state)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`,
      [
        versionId,
        notebookId,
        s.seq,
        s.reason,
        s.state.byteLength,
        s.cells,
        Buffer.from(s.state.buffer, s.state.byteOffset, s.state.byteLength),
      ],
    );
    return {
      versionId,
      seq: s.seq,
      createdAt: rows[0]!.created_at.toISOString(),
      bytes: s.state.byteLength,
      cells: s.cells,
      reason: s.reason,
    };
  }

  async listVersions(notebookId: string): Promise<NotebookVersion[]> {
    const { rows } = await this.pool.query<{
      version_id: string;
      seq: string;
      created_at: Date;
      bytes: number;
      cells: number;
      reason: VersionReason;
    }>(
      `SELECT version_id, seq, created_at, bytes, cells, reason FROM ${this.t('snapshots')}
       WHERE notebook_id = $1 ORDER BY seq DESC, created_at DESC`,
      [notebookId],
    );
    return rows.map((r) => ({
      versionId: r.version_id,
      seq: Number(r.seq),
      createdAt: r.created_at.toISOString(),
      bytes: r.bytes,
      cells: r.cells,
      reason: r.reason,
    }));
  }

  async getSnapshotState(notebookId: string, versionId: string): Promise<Uint8Array | undefined> {
    const { rows } = await this.pool.query<{ state: Buffer }>(
      `SELECT state FROM ${this.t('snapshots')} WHERE notebook_id = $1 AND version_id = $2`,
      [notebookId, versionId],
    );
    return rows[0] ? new Uint8Array(rows[0].state) : undefined;
  }

  /** Removes the notebook, its versions, write-ahead log and ops-log objects. */
  async deleteNotebook(notebookId: string): Promise<boolean> {
    const res = await this.pool.query(
      `UPDATE ${this.t('notebooks')} SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL`,
      [notebookId],
    );
    if (!res.rowCount) return false;
    await this.pool.query(`DELETE FROM ${this.t('snapshots')} WHERE notebook_id = $1`, [notebookId]);
    await this.pool.query(`DELETE FROM ${this.t('wal')} WHERE notebook_id = $1`, [notebookId]);
    for (const key of await this.blobs.list(opsPrefix(notebookId))) await this.blobs.delete(key);
    return true;
  }
}
