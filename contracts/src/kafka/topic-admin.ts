import type { Admin } from 'kafkajs';
import { ALL_TOPICS, DLQ_RETENTION_MS, dlqTopicOf, type TopicSpec } from '../topics';

/** Creates every registered topic and its DLQ if missing. Idempotent. */
export async function ensureTopics(
  admin: Admin,
  topics: readonly TopicSpec[] = ALL_TOPICS,
  replicationFactor = 1,
) {
  const existing = new Set(await admin.listTopics());
  const wanted = topics.flatMap((t) => [
    { topic: t.name, numPartitions: t.partitions, retentionMs: t.retentionMs },
    { topic: dlqTopicOf(t.name), numPartitions: 1, retentionMs: DLQ_RETENTION_MS },
  ]);
  const missing = wanted.filter((t) => !existing.has(t.topic));
  if (missing.length === 0) return [];
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((t) => ({
      topic: t.topic,
      numPartitions: t.numPartitions,
      replicationFactor,
      configEntries: [{ name: 'retention.ms', value: String(t.retentionMs) }],
    })),
  });
  return missing.map((t) => t.topic);
}
