import { Pool, type PoolClient } from 'pg';

export function createPostgresPool(
  cfg: { QUIRE_POSTGRES_URL: string; QUIRE_POSTGRES_POOL_SIZE: number },
  applicationName: string,
): Pool {
  return new Pool({
    connectionString: cfg.QUIRE_POSTGRES_URL,
    max: cfg.QUIRE_POSTGRES_POOL_SIZE,
    application_name: applicationName,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
  });
}

/**
 * Runs `fn` in one transaction on a client of its own: COMMIT when it
 * returns, ROLLBACK when it throws (or when it returns `ROLLBACK`: the work
 * was not for this caller after all), the client released either way.
 */
export const ROLLBACK = Symbol('rollback');

export async function inTransaction<T>(
  pool: Pool,
  fn: (c: PoolClient) => Promise<T | typeof ROLLBACK>,
): Promise<T | undefined> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    if (out === ROLLBACK) {
      await c.query('ROLLBACK');
      return undefined;
    }
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
