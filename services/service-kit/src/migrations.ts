import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';

/**
 * A tiny ordered-SQL migration runner. Each service owns one PostgreSQL schema
 * and a folder of `NNNN_description.sql` files. Applied files are recorded with
 * a checksum in `<schema>.schema_migrations`; each file runs in its own
 * transaction; a session advisory lock makes concurrent runners (several
 * replicas starting at once) safe. Editing an applied file is refused: add a
 * new file instead.
 */
export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

const FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export function listMigrations(
  dir: string,
): { version: number; name: string; sql: string; checksum: string }[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql'));
  const bad = files.filter((f) => !FILE.test(f));
  if (bad.length)
    throw new MigrationError(
      `bad migration file names in ${dir}: ${bad.join(', ')} (want NNNN_description.sql)`,
    );
  const seen = new Set<number>();
  return files.sort().map((name) => {
    const version = Number(FILE.exec(name)![1]);
    if (seen.has(version)) throw new MigrationError(`two migrations numbered ${version} in ${dir}`);
    seen.add(version);
    const sql = readFileSync(join(dir, name), 'utf8');
    return { version, name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
}

export async function runMigrations(
  pool: Pool,
  opts: { schema: string; dir: string },
): Promise<MigrationResult> {
  if (!/^[a-z_][a-z0-9_]*$/.test(opts.schema)) throw new MigrationError(`bad schema name ${opts.schema}`);
  const migrations = listMigrations(opts.dir);
  const client = await pool.connect();
  const lockKey = createHash('sha256').update(`quire-migrations:${opts.schema}`).digest().readBigInt64BE(0);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [lockKey.toString()]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${opts.schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${opts.schema}.schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         checksum text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
      `SELECT version, name, checksum FROM ${opts.schema}.schema_migrations`,
    );
    const applied = new Map(rows.map((r) => [r.version, r]));
    const result: MigrationResult = { applied: [], skipped: [] };
    for (const m of migrations) {
      const done = applied.get(m.version);
      if (done) {
        if (done.checksum !== m.checksum) {
          throw new MigrationError(
            `${opts.schema}/${m.name} changed after it was applied (checksum differs). Revert the edit and add a new migration instead.`,
          );
        }
        result.skipped.push(m.name);
        continue;
      }
      try {
        await client.query('BEGIN');
        await client.query(`SET LOCAL search_path TO ${opts.schema}, public`);
        await client.query(m.sql);
        await client.query(
          `INSERT INTO ${opts.schema}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`,
          [m.version, m.name, m.checksum],
        );
        await client.query('COMMIT');
        result.applied.push(m.name);
      } catch (err) {
        await client.query('ROLLBACK');
        throw new MigrationError(`${opts.schema}/${m.name} failed: ${(err as Error).message}`);
      }
    }
    return result;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [lockKey.toString()]).catch(() => undefined);
    client.release();
  }
}
