import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { MigrationError, runMigrations } from '../src/migrations';
import { platformVar } from '../src/testing';

describe('migrations on real PostgreSQL', () => {
  let pool: Pool;
  const schema = `it_migrations_${Date.now().toString(36)}_${process.pid}`;
  let dir: string;

  beforeAll(() => {
    pool = new Pool({ connectionString: platformVar('QUIRE_POSTGRES_URL'), max: 8 });
    dir = mkdtempSync(join(tmpdir(), 'quire-migrations-'));
    writeFileSync(
      join(dir, '0001_notebooks.sql'),
      'CREATE TABLE notebooks (id text PRIMARY KEY, title text NOT NULL);',
    );
    writeFileSync(
      join(dir, '0002_notebook_owner.sql'),
      "ALTER TABLE notebooks ADD COLUMN owner text NOT NULL DEFAULT 'nobody';",
    );
  });

  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });

  it('applies every file once; the second run is a no-op', async () => {
    const first = await runMigrations(pool, { schema, dir });
    expect(first).toEqual({ applied: ['0001_notebooks.sql', '0002_notebook_owner.sql'], skipped: [] });
    await pool.query(`INSERT INTO ${schema}.notebooks (id, title) VALUES ('nb1', 'Hello')`);

    const second = await runMigrations(pool, { schema, dir });
    expect(second).toEqual({ applied: [], skipped: ['0001_notebooks.sql', '0002_notebook_owner.sql'] });
    const { rows } = await pool.query(`SELECT id, owner FROM ${schema}.notebooks`);
    expect(rows).toEqual([{ id: 'nb1', owner: 'nobody' }]);
  });

  it('is safe when several replicas migrate at once', async () => {
    writeFileSync(join(dir, '0003_index.sql'), `CREATE INDEX notebooks_owner ON notebooks (owner);`);
    const results = await Promise.all(Array.from({ length: 5 }, () => runMigrations(pool, { schema, dir })));
    expect(results.flatMap((r) => r.applied)).toEqual(['0003_index.sql']);
  });

  it('refuses an edited migration that was already applied, and a failing one changes nothing', async () => {
    writeFileSync(join(dir, '0001_notebooks.sql'), 'CREATE TABLE notebooks (id text PRIMARY KEY);');
    await expect(runMigrations(pool, { schema, dir })).rejects.toThrow(
      /0001_notebooks\.sql changed after it was applied/,
    );
    writeFileSync(
      join(dir, '0001_notebooks.sql'),
      'CREATE TABLE notebooks (id text PRIMARY KEY, title text NOT NULL);',
    );

    writeFileSync(
      join(dir, '0004_broken.sql'),
      'CREATE TABLE half_done (id int); SELECT no_such_function();',
    );
    await expect(runMigrations(pool, { schema, dir })).rejects.toThrow(MigrationError);
    const { rowCount } = await pool.query(
      `SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'half_done'`,
      [schema],
    );
    expect(rowCount).toBe(0);
    const { rows } = await pool.query(`SELECT max(version) AS v FROM ${schema}.schema_migrations`);
    expect(rows[0].v).toBe(3);
  });
});
