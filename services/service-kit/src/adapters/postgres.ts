import { Pool } from 'pg';

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
