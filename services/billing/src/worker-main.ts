import { JsonLogger } from '@quire/service-kit';
import { loadBillingConfig } from './config';
import { BillingRuntime } from './runtime/billing-runtime';

/**
 * Billing's consumer and metering without the HTTP API (QUIRE_BILLING_ROLE=worker
 * in one process). Scale it independently of the API; any number of replicas:
 * Kafka spreads the partitions, one replica at a time meters.
 */
const cfg = loadBillingConfig();
const log = new JsonLogger('billing-worker', cfg.QUIRE_LOG_LEVEL);
// Progress, at most once a second: batches and messages committed to the ledger since the last line.
let batches = 0;
let messages = 0;
setInterval(() => {
  if (!batches) return;
  log.info('consumed', { batches, messages });
  batches = 0;
  messages = 0;
}, 1000).unref();
const runtime = new BillingRuntime(
  cfg,
  {
    consume: true,
    meter: true,
    publish: cfg.QUIRE_BILLING_PUBLISH,
    deadLetter: true,
    onGroupJoin: (j) => log.info('group joined', { ...j }),
    onBatch: (b) => {
      batches++;
      messages += b.messages;
    },
  },
  log,
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('stopping', { signal });
  setTimeout(() => process.exit(1), cfg.QUIRE_SHUTDOWN_GRACE_MS).unref();
  await runtime.stop();
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

runtime.start().then(
  () => log.info('billing worker started', { schema: runtime.tables.schema }),
  (err: Error) => {
    log.error('billing worker failed to start', { error: err.stack ?? err.message });
    process.exit(1);
  },
);
