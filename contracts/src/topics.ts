/**
 * The topic registry: every Kafka topic, the one service that owns it (the only
 * producer), how many partitions it has and what its message key is. Keys keep
 * all events of one kernel / notebook / host in one partition, so they are
 * consumed in order.
 *
 * Naming: `<domain>.<stream>.v<N>`. A breaking change to a stream is a new topic
 * version beside the old one (see contracts/SCHEMA_EVOLUTION.md).
 */
export type ServiceName =
  'gateway' | 'doc-sync' | 'host-worker' | 'billing' | 'agent' | 'gpu-scheduler' | 'workflows';

export interface TopicSpec {
  readonly name: string;
  readonly owner: ServiceName;
  readonly partitions: number;
  /** What the message key is: every event's `subject` is of this kind. */
  readonly key: 'host' | 'kernel' | 'notebook' | 'tenant' | 'agent-run' | 'gpu-request';
  readonly description: string;
  /** Retention; the ledger and timelines are rebuilt by replay, so core streams keep everything. */
  readonly retentionMs: number;
}

const FOREVER = -1;
const SEVEN_DAYS = 7 * 24 * 3600 * 1000;

export const TOPICS = {
  hostEvents: {
    name: 'host.events.v1',
    owner: 'host-worker',
    partitions: 6,
    key: 'host',
    description: 'Host heartbeats, sandbox starts and exits, snapshots, resource samples',
    retentionMs: FOREVER,
  },
  exec: {
    name: 'exec.v1',
    owner: 'gateway',
    partitions: 6,
    key: 'kernel',
    description: 'Execute requests, queueing, start, completion and interrupts',
    retentionMs: FOREVER,
  },
  kernelLifecycle: {
    name: 'kernel.lifecycle.v1',
    owner: 'workflows',
    partitions: 6,
    key: 'kernel',
    description: 'Kernel lifecycle state changes decided by the lifecycle workflows',
    retentionMs: FOREVER,
  },
  doc: {
    name: 'doc.v1',
    owner: 'doc-sync',
    partitions: 6,
    key: 'notebook',
    description: 'Notebook creation, persistence checkpoints and sharing',
    retentionMs: FOREVER,
  },
  billingUsage: {
    name: 'billing.usage.v1',
    owner: 'billing',
    partitions: 3,
    key: 'tenant',
    description: 'Rated usage and quota signals',
    retentionMs: FOREVER,
  },
  agent: {
    name: 'agent.v1',
    owner: 'agent',
    partitions: 3,
    key: 'agent-run',
    description: 'Agent runs and their steps',
    retentionMs: FOREVER,
  },
  gpu: {
    name: 'gpu.v1',
    owner: 'gpu-scheduler',
    partitions: 3,
    key: 'gpu-request',
    description: 'GPU requests, queueing with ETA, allocations and releases',
    retentionMs: FOREVER,
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicKey = keyof typeof TOPICS;
export type TopicName = (typeof TOPICS)[TopicKey]['name'];

export const ALL_TOPICS: readonly TopicSpec[] = Object.values(TOPICS);

/** Invalid messages of a topic go here, with the reason in headers. Never consumed automatically. */
export function dlqTopicOf(topic: string): string {
  return `${topic}.dlq`;
}

export const DLQ_RETENTION_MS = SEVEN_DAYS * 4;

export function topicSpec(name: string): TopicSpec | undefined {
  return ALL_TOPICS.find((t) => t.name === name);
}
