import type { Consumer, ConsumerConfig, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import {
  EventValidationError,
  parseEnvelopeAttributes,
  validateEnvelope,
  type EventEnvelope,
} from '../envelope';
import { findEventDefinition } from '../events/registry';
import { dlqTopicOf } from '../topics';
import { DLQ_HEADER, type ConsumerLogger } from './event-consumer';
import { createProducer } from './kafka-client';
import { decodeEvent, DecodeError, headersToStrings } from './wire-format';

/**
 * A validating, batch-at-a-time consumer for sinks that keep their own
 * consumer offsets (exactly-once into a database: offsets are written in the
 * same transaction as the effects, Kafka's committed offsets are only a hint).
 *
 * - Every message is decoded and validated against the event registry exactly
 *   like EventConsumer does; an invalid one is dead-lettered to `<topic>.dlq`
 *   with `dlq_reason` (the same headers as EventConsumer) and handed to the sink
 *   as `rejected`, so the sink can record it and move its offset past it.
 * - The sink decides, inside its transaction, whether the batch lines up with
 *   the offset it has stored. If it is ahead (a replay after a crash or a
 *   rebalance), it skips what it already has; if the batch starts after its
 *   stored offset, it answers `seek` and the consumer rewinds the partition.
 * - On every group join the consumer asks the sink for its stored offsets and
 *   seeks the assigned partitions there, so a restarted or rebalanced consumer
 *   resumes where the sink's last committed transaction ended.
 * - Kafka's own committed offset is advanced only after the sink committed, so
 *   it never runs ahead of the sink.
 */
export interface SinkMessage {
  offset: string;
  /** Kafka message timestamp (ms since epoch, as a string). */
  timestamp: string;
  key: string | null;
  /** The validated event, or undefined when the message was rejected. */
  event?: EventEnvelope;
  rejected?: { reason: string; eventId?: string; type?: string };
}

export interface SinkBatch {
  /** The topic as subscribed (possibly prefixed). */
  topic: string;
  /** The registry topic the events belong to (`topic` without a namespace prefix). */
  registryTopic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  messages: SinkMessage[];
  /** True when the consumer already rewound once to the sink's offset and the log really has a hole. */
  acceptGap: boolean;
}

export type SinkOutcome = { kind: 'committed' } | { kind: 'seek'; offset: string };

export interface BatchEventSink {
  /** Applies a batch in one transaction together with the partition's next offset. */
  applyBatch(batch: SinkBatch): Promise<SinkOutcome>;
  /** The next offset to read per subscribed topic/partition, as stored by the sink (absent: start of the log). */
  storedOffsets(topic: string, partitions: number[]): Promise<Map<number, string>>;
}

export interface BatchEventConsumerOptions {
  kafka: Kafka;
  groupId: string;
  /** Subscribed topic names; `registryTopicOf` maps each to its registry name (identity by default). */
  topics: string[];
  registryTopicOf?: (topic: string) => string;
  sink: BatchEventSink;
  /** Extra checks of a valid event (e.g. a consumer's own business rules); a string is a DLQ reason. */
  extraValidation?: (event: EventEnvelope, message: KafkaMessage) => string | undefined;
  /** Send rejected messages to `<topic>.dlq` (default true). A replay into a scratch ledger turns it off. */
  deadLetter?: boolean;
  consumerConfig?: Partial<ConsumerConfig>;
  partitionsConsumedConcurrently?: number;
  logger?: ConsumerLogger;
  onBatch?: (info: { topic: string; partition: number; messages: number; rejected: number }) => void;
  /** Every completed rebalance, as this member saw it (the leader's join marks one generation). */
  onGroupJoin?: (info: GroupJoinInfo) => void;
}

export interface GroupJoinInfo {
  memberId: string;
  leaderId: string;
  isLeader: boolean;
  assignment: Record<string, number[]>;
}

const silent: ConsumerLogger = { info: () => {}, warn: () => {}, error: () => {} };

export class BatchEventConsumer {
  private readonly consumer: Consumer;
  private readonly dlqProducer: Producer;
  private readonly log: ConsumerLogger;
  private readonly registryTopicOf: (topic: string) => string;
  /** Partitions we rewound to the sink's offset, and the offset we rewound to. */
  private readonly rewound = new Map<string, string>();
  private running = false;

  constructor(private readonly opts: BatchEventConsumerOptions) {
    this.consumer = opts.kafka.consumer({
      groupId: opts.groupId,
      allowAutoTopicCreation: false,
      ...opts.consumerConfig,
    });
    this.dlqProducer = createProducer(opts.kafka);
    this.log = opts.logger ?? silent;
    this.registryTopicOf = opts.registryTopicOf ?? ((t) => t);
  }

  get kafkaConsumer(): Consumer {
    return this.consumer;
  }

  async start(): Promise<void> {
    if (this.opts.deadLetter !== false) await this.dlqProducer.connect();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      void this.onGroupJoin(e.payload).catch((err: Error) =>
        this.log.error('seeking to stored offsets failed', { error: err.message }),
      );
    });
    for (const topic of this.opts.topics) {
      await this.consumer.subscribe({ topic, fromBeginning: true });
    }
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.partitionsConsumedConcurrently ?? 1,
      eachBatch: (p) => this.onBatch(p),
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.consumer.disconnect();
    if (this.opts.deadLetter !== false) await this.dlqProducer.disconnect();
  }

  private async onGroupJoin(payload: {
    memberId: string;
    leaderId: string;
    isLeader: boolean;
    memberAssignment: Record<string, number[]>;
  }): Promise<void> {
    this.opts.onGroupJoin?.({
      memberId: payload.memberId,
      leaderId: payload.leaderId,
      isLeader: payload.isLeader,
      assignment: payload.memberAssignment,
    });
    for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
      if (!partitions.length) continue;
      const stored = await this.opts.sink.storedOffsets(topic, partitions);
      for (const partition of partitions) {
        const offset = stored.get(partition) ?? '0';
        this.consumer.seek({ topic, partition, offset });
      }
    }
  }

  private async onBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    const { topic, partition } = batch;
    if (!p.isRunning() || p.isStale() || batch.messages.length === 0) return;
    const registryTopic = this.registryTopicOf(topic);
    const messages = batch.messages.map((m) => this.decode(m, registryTopic));
    const rejected = messages.filter((m) => m.rejected);
    const tp = `${topic}:${partition}`;
    const firstOffset = batch.messages[0]!.offset;
    const lastOffset = batch.messages[batch.messages.length - 1]!.offset;
    const acceptGap =
      this.rewound.get(tp) !== undefined && BigInt(this.rewound.get(tp)!) < BigInt(firstOffset);

    if (rejected.length && this.opts.deadLetter !== false) {
      await this.deadLetter(
        topic,
        partition,
        batch.messages.filter((_, i) => messages[i]!.rejected),
        rejected.map((r) => r.rejected!.reason),
      );
    }
    const outcome = await this.opts.sink.applyBatch({
      topic,
      registryTopic,
      partition,
      firstOffset,
      lastOffset,
      messages,
      acceptGap,
    });
    if (outcome.kind === 'seek') {
      this.log.warn('batch does not line up with the stored offset; rewinding', {
        topic,
        partition,
        firstOffset,
        storedOffset: outcome.offset,
      });
      this.rewound.set(tp, outcome.offset);
      this.consumer.seek({ topic, partition, offset: outcome.offset });
      return;
    }
    this.rewound.delete(tp);
    p.resolveOffset(lastOffset);
    this.opts.onBatch?.({ topic, partition, messages: messages.length, rejected: rejected.length });
    // A hint only: the sink's stored offset is the truth. It never runs ahead of it.
    const next = (BigInt(lastOffset) + 1n).toString();
    await p
      .commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] })
      .catch((err: Error) =>
        this.log.warn('advisory Kafka offset commit failed', { topic, partition, error: err.message }),
      );
    await p.heartbeat().catch(() => undefined);
  }

  private decode(message: KafkaMessage, registryTopic: string): SinkMessage {
    const base = {
      offset: message.offset,
      timestamp: message.timestamp,
      key: message.key?.toString('utf8') ?? null,
    };
    let raw: Record<string, unknown> | undefined;
    try {
      raw = decodeEvent(message.headers, message.value);
      const attrs = parseEnvelopeAttributes(raw);
      const def = findEventDefinition(attrs.type, attrs.schemaVersion);
      if (!def) {
        throw new EventValidationError('unknown event type', [`${attrs.type} v${attrs.schemaVersion}`]);
      }
      if (def.topic !== registryTopic) {
        throw new EventValidationError('event on the wrong topic', [
          `${def.type} belongs on ${def.topic}, not ${registryTopic}`,
        ]);
      }
      const event = validateEnvelope(raw, def);
      const extra = this.opts.extraValidation?.(event, message);
      if (extra) return { ...base, rejected: { reason: extra, eventId: event.id, type: event.type } };
      return { ...base, event };
    } catch (err) {
      if (err instanceof DecodeError || err instanceof EventValidationError) {
        return {
          ...base,
          rejected: {
            reason: err.message,
            ...(typeof raw?.id === 'string' ? { eventId: raw.id } : {}),
            ...(typeof raw?.type === 'string' ? { type: raw.type } : {}),
          },
        };
      }
      throw err;
    }
  }

  private async deadLetter(
    topic: string,
    partition: number,
    originals: KafkaMessage[],
    reasons: string[],
  ): Promise<void> {
    // At-least-once into the DLQ: if the sink's transaction fails after this
    // send, the batch is retried and the message is dead-lettered again.
    await this.dlqProducer.send({
      topic: dlqTopicOf(topic),
      acks: -1,
      messages: originals.map((m, i) => ({
        key: m.key,
        value: m.value,
        headers: {
          ...headersToStrings(m.headers),
          [DLQ_HEADER.reason]: reasons[i]!.slice(0, 4000),
          [DLQ_HEADER.originalTopic]: topic,
          [DLQ_HEADER.originalPartition]: String(partition),
          [DLQ_HEADER.originalOffset]: m.offset,
          [DLQ_HEADER.consumerGroup]: this.opts.groupId,
          [DLQ_HEADER.time]: new Date().toISOString(),
        },
      })),
    });
    for (let i = 0; i < originals.length; i++) {
      this.log.warn('message dead-lettered', {
        topic,
        partition,
        offset: originals[i]!.offset,
        reason: reasons[i],
      });
    }
  }
}
