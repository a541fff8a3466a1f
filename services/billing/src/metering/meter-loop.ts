import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { OutboxPublisher } from '../outbox/outbox';
import type { Meter, RoundResult } from './meter';

export interface LoopLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Runs metering rounds in exactly one process per ledger schema: the holder
 * of a PostgreSQL session advisory lock. When that process dies (even kill
 * -9) its session ends, the lock is released and another replica takes over.
 */
export class MeterLoop {
  private stopping = false;
  private done: Promise<void> | undefined;
  private lockClient: PoolClient | undefined;
  private leading = false;
  lastRound: RoundResult | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly meter: Meter,
    private readonly publisher: OutboxPublisher | undefined,
    private readonly intervalMs: number,
    private readonly log: LoopLogger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.done ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
  }

  private lockKey(): string {
    return createHash('sha256')
      .update(`quire-billing-meter:${this.meter.t.schema}`)
      .digest()
      .readBigInt64BE(0)
      .toString();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        if (!this.leading) {
          await this.acquire();
          if (!this.leading) {
            await sleep(1000);
            continue;
          }
          this.log.info('metering leader', { schema: this.meter.t.schema });
        }
        const r = await this.meter.round();
        this.lastRound = r;
        const published = this.publisher ? await this.publisher.drain() : 0;
        if (r.marks === 0 && r.ledgerRows === 0 && !r.swept && published === 0) await sleep(this.intervalMs);
      } catch (err) {
        this.log.error('metering round failed', { error: (err as Error).message });
        await this.release();
        await sleep(1000);
      }
    }
    await this.release();
  }

  private async acquire(): Promise<void> {
    this.lockClient ??= await this.pool.connect();
    this.lockClient.on('error', () => undefined);
    const { rows } = await this.lockClient.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
      this.lockKey(),
    ]);
    this.leading = rows[0]?.ok === true;
  }

  private async release(): Promise<void> {
    const c = this.lockClient;
    this.lockClient = undefined;
    const wasLeading = this.leading;
    this.leading = false;
    if (!c) return;
    if (wasLeading) await c.query('SELECT pg_advisory_unlock($1)', [this.lockKey()]).catch(() => undefined);
    c.release(true);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
