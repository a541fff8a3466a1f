import { ALL_TOPICS } from '@quire/contracts';
import { createKafka, ensureTopics } from '@quire/contracts/kafka';
import { createS3Client, kafkaConfigSchema, loadConfig, s3ConfigSchema } from '@quire/service-kit';
import { z } from 'zod';
import { ensureBuckets } from '../components/object-store';
import type { LocalConfig } from '../local-config';
import { info } from '../progress';

/**
 * Prepares any cluster (Docker Compose, Kubernetes, managed Kafka and S3) the
 * way `quire up` prepares the local one: every registered topic and its DLQ,
 * and the buckets. Reads only the QUIRE_* service variables, never local paths.
 */
export async function initCluster(config: LocalConfig): Promise<void> {
  const cfg = loadConfig(
    z.object({
      ...kafkaConfigSchema.shape,
      ...s3ConfigSchema.shape,
      QUIRE_KAFKA_REPLICATION_FACTOR: z.coerce.number().int().positive().default(1),
    }),
  );
  const admin = createKafka({
    brokers: cfg.QUIRE_KAFKA_BROKERS,
    clientId: 'quire-init-cluster',
    ssl: cfg.QUIRE_KAFKA_SSL,
  }).admin();
  await admin.connect();
  try {
    const created = await ensureTopics(admin, ALL_TOPICS, cfg.QUIRE_KAFKA_REPLICATION_FACTOR);
    info(`topics: ${created.length ? `created ${created.join(', ')}` : 'all present'}`);
  } finally {
    await admin.disconnect();
  }
  const s3 = createS3Client(cfg);
  try {
    const created = await ensureBuckets(s3, config.buckets);
    info(`buckets: ${created.length ? `created ${created.join(', ')}` : 'all present'}`);
  } finally {
    s3.destroy();
  }
}
