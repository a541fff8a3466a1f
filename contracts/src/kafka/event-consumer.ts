import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Consumer, EachMessagePayload, Kafka, Producer } from 'kafkajs';
import {
  EventValidationError,
  parseEnvelopeAttributes,
  validateEnvelope,
  type EventEnvelope,
} from '../envelope';
import { findEventDefinition } from '../events/registry';
import { dlqTopicOf } from '../topics';
import { createProducer } from './kafka-client';
import { extractTraceContext } from './trace-context';
import { decodeEvent, DecodeError, headersToStrings } from './wire-format';

export type EventHandler = (event: EventEnvelope, meta: MessageMeta) => Promise<void>;

export interface MessageMeta {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
}

export interface ConsumerLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface EventConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  handler: EventHandler;
  fromBeginning?: boolean;
  /** Attempts before a failing handler's message is dead-lettered (it is never dropped). */
  maxHandlerAttempts?: number;
  retryBaseMs?: number;
  logger?: ConsumerLogger;
  onProcessed?: (event: EventEnvelope, meta: MessageMeta) => void;
  onDeadLettered?: (reason: string, meta: MessageMeta) => void;
  /** The registry name of a subscribed topic (deployments that prefix topic names, e.g. `staging.`). */
  registryTopicOf?: (subscribed: string) => string;
}

export const DLQ_HEADER = {
  reason: 'dlq_reason',
  originalTopic: 'dlq_original_topic',
  originalPartition: 'dlq_original_partition',
  originalOffset: 'dlq_original_offset',
  consumerGroup: 'dlq_consumer_group',
  time: 'dlq_time',
} as const;

const silent: ConsumerLogger = { info: () => {}, warn: () => {}, error: () => {} };
const tracer = trace.getTracer('@quire/contracts');

/**
 * Validates every message against the registry before the handler sees it.
 * Invalid messages go to `<topic>.dlq` with the reason and the consumer carries
 * on; handler failures are retried, then dead-lettered. Delivery is
 * at-least-once: handlers must be idempotent by `event.id`.
 */
export class EventConsumer {
  private readonly consumer: Consumer;
  private readonly dlqProducer: Producer;
  private readonly log: ConsumerLogger;
  private running = false;

  constructor(private readonly opts: EventConsumerOptions) {
    this.consumer = opts.kafka.consumer({ groupId: opts.groupId });
    this.dlqProducer = createProducer(opts.kafka);
    this.log = opts.logger ?? silent;
  }

  get kafkaConsumer(): Consumer {
    return this.consumer;
  }

  async start(): Promise<void> {
    await this.dlqProducer.connect();
    await this.consumer.connect();
    for (const topic of this.opts.topics) {
      await this.consumer.subscribe({ topic, fromBeginning: this.opts.fromBeginning ?? false });
    }
    this.running = true;
    await this.consumer.run({ eachMessage: (p) => this.onMessage(p) });
  }

  /** Finishes the message in flight, commits, leaves the group. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.consumer.disconnect();
    await this.dlqProducer.disconnect();
  }

  private async onMessage({ topic, partition, message }: EachMessagePayload): Promise<void> {
    const meta: MessageMeta = {
      topic,
      partition,
      offset: message.offset,
      key: message.key?.toString('utf8') ?? null,
    };
    let event: EventEnvelope;
    try {
      const raw = decodeEvent(message.headers, message.value);
      const attrs = parseEnvelopeAttributes(raw);
      const def = findEventDefinition(attrs.type, attrs.schemaVersion);
      if (!def) {
        throw new EventValidationError('unknown event type', [`${attrs.type} v${attrs.schemaVersion}`]);
      }
      if (def.topic !== (this.opts.registryTopicOf?.(topic) ?? topic)) {
        throw new EventValidationError('event on the wrong topic', [
          `${def.type} belongs on ${def.topic}, not ${topic}`,
        ]);
      }
      event = validateEnvelope(raw, def);
    } catch (err) {
      if (err instanceof DecodeError || err instanceof EventValidationError) {
        await this.deadLetter(payloadOf(message), meta, err.message);
        return;
      }
      throw err;
    }

    const parent = extractTraceContext(headersToStrings(message.headers));
    await context.with(parent, () =>
      tracer.startActiveSpan(`consume ${event.type}`, { kind: SpanKind.CONSUMER }, async (span) => {
        span.setAttributes({
          'messaging.system': 'kafka',
          'messaging.destination.name': topic,
          'quire.event.id': event.id,
        });
        try {
          await this.runHandler(event, meta, payloadOf(message));
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          throw err;
        } finally {
          span.end();
        }
      }),
    );
  }

  private async runHandler(event: EventEnvelope, meta: MessageMeta, payload: RawPayload): Promise<void> {
    const attempts = this.opts.maxHandlerAttempts ?? 5;
    const base = this.opts.retryBaseMs ?? 200;
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await this.opts.handler(event, meta);
        this.opts.onProcessed?.(event, meta);
        return;
      } catch (err) {
        lastError = err as Error;
        this.log.warn('event handler failed', {
          eventId: event.id,
          type: event.type,
          attempt,
          error: lastError.message,
        });
        if (attempt < attempts) await sleep(base * 2 ** (attempt - 1));
      }
    }
    await this.deadLetter(
      payload,
      meta,
      `handler failed after ${attempts} attempts: ${lastError?.message ?? 'unknown'}`,
    );
  }

  private async deadLetter(payload: RawPayload, meta: MessageMeta, reason: string): Promise<void> {
    // If this send fails the error propagates: kafkajs does not commit the
    // offset and redelivers, so an invalid message is never silently lost.
    await this.dlqProducer.send({
      topic: dlqTopicOf(meta.topic),
      acks: -1,
      messages: [
        {
          key: payload.key,
          value: payload.value,
          headers: {
            ...payload.headers,
            [DLQ_HEADER.reason]: reason.slice(0, 4000),
            [DLQ_HEADER.originalTopic]: meta.topic,
            [DLQ_HEADER.originalPartition]: String(meta.partition),
            [DLQ_HEADER.originalOffset]: meta.offset,
            [DLQ_HEADER.consumerGroup]: this.opts.groupId,
            [DLQ_HEADER.time]: new Date().toISOString(),
          },
        },
      ],
    });
    this.log.warn('message dead-lettered', { ...meta, reason });
    this.opts.onDeadLettered?.(reason, meta);
  }
}

interface RawPayload {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

function payloadOf(message: EachMessagePayload['message']): RawPayload {
  return { key: message.key, value: message.value, headers: headersToStrings(message.headers) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
