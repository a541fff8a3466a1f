import type { Pool, PoolClient } from 'pg';

/** Table names of one billing schema (the live one, or a rebuild's scratch schema). */
export class Tables {
  constructor(readonly schema: string) {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  }
  get journal() {
    return `${this.schema}.event_journal`;
  }
  get heartbeats() {
    return `${this.schema}.host_heartbeats`;
  }
  get rejected() {
    return `${this.schema}.rejected_messages`;
  }
  get offsets() {
    return `${this.schema}.consumer_offsets`;
  }
  get dirty() {
    return `${this.schema}.dirty_keys`;
  }
  get hostGaps() {
    return `${this.schema}.host_gaps`;
  }
  get hosts() {
    return `${this.schema}.hosts`;
  }
  get kernelMeter() {
    return `${this.schema}.kernel_meter`;
  }
  get spans() {
    return `${this.schema}.kernel_host_spans`;
  }
  get ledger() {
    return `${this.schema}.ledger`;
  }
  get current() {
    return `${this.schema}.ledger_current`;
  }
  get lines() {
    return `${this.schema}.rated_lines`;
  }
  get quotas() {
    return `${this.schema}.quotas`;
  }
  get quotaSignals() {
    return `${this.schema}.quota_signals`;
  }
  get outbox() {
    return `${this.schema}.outbox`;
  }
  get meterState() {
    return `${this.schema}.meter_state`;
  }
  get lagSamples() {
    return `${this.schema}.meter_lag_samples`;
  }
  get exports() {
    return `${this.schema}.exports`;
  }
}

const RETRYABLE = new Set(['40001', '40P01']);

/** Runs `fn` in a transaction, retrying serialization failures and deadlocks. */
export async function inTransaction<T>(
  pool: Pool,
  fn: (c: PoolClient) => Promise<T>,
  attempts = 5,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      const code = (err as { code?: string }).code;
      if (attempt < attempts && code && RETRYABLE.has(code)) {
        await new Promise((r) => setTimeout(r, 20 * attempt + Math.floor(Math.random() * 30)));
        continue;
      }
      throw err;
    } finally {
      client.release();
    }
  }
}

export const iso = (ms: number): string => new Date(ms).toISOString();
