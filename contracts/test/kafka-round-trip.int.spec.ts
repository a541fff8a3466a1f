import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { context, propagation, trace } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import {
  createEvent,
  dlqTopicOf,
  ExecuteQueued,
  HostHeartbeat,
  TOPICS,
  uuidv7,
  type EventEnvelope,
} from '../src';
import {
  createKafka,
  createProducer,
  DLQ_HEADER,
  encodeEvent,
  EventConsumer,
  EventProducer,
  headersToStrings,
} from '../src/kafka';
import { platformVar } from './platform-env';

jest.setTimeout(90_000);

const topic = TOPICS.exec.name;

function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

describe('contracts over a real Kafka broker', () => {
  let kafka: Kafka;
  let rawProducer: Producer;
  let dlqReader: Consumer;
  const runId = `run-${uuidv7().slice(-12)}`;
  const groupId = `contracts-it-${runId}`;
  const received: EventEnvelope[] = [];
  const receivedTraceIds: string[] = [];
  const dlq: { reason: string; originalOffset: string; value: string | undefined }[] = [];
  let flaky = 0;
  let consumer: EventConsumer;

  beforeAll(async () => {
    const provider = new BasicTracerProvider();
    trace.setGlobalTracerProvider(provider);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

    kafka = createKafka({ brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','), clientId: 'contracts-it' });
    rawProducer = createProducer(kafka);
    await rawProducer.connect();

    dlqReader = kafka.consumer({ groupId: `${groupId}-dlq-reader` });
    await dlqReader.connect();
    await dlqReader.subscribe({ topic: dlqTopicOf(topic), fromBeginning: true });
    await dlqReader.run({
      eachMessage: async ({ message }) => {
        const h = headersToStrings(message.headers);
        // Only this run's messages: the topic keeps every earlier run's history.
        if (h[DLQ_HEADER.consumerGroup] !== groupId || !message.key?.toString().startsWith(runId)) return;
        dlq.push({
          reason: h[DLQ_HEADER.reason] ?? '',
          originalOffset: h[DLQ_HEADER.originalOffset] ?? '',
          value: message.value?.toString(),
        });
      },
    });

    consumer = new EventConsumer({
      kafka,
      groupId,
      topics: [topic],
      fromBeginning: true,
      maxHandlerAttempts: 3,
      retryBaseMs: 20,
      handler: async (event) => {
        if (!event.subject.startsWith(runId)) return; // other runs' history on the same topic
        if (event.subject === `${runId}-flaky` && flaky++ < 2) throw new Error('transient failure');
        if (event.subject === `${runId}-poison`) throw new Error('this handler always fails on it');
        received.push(event);
        const span = trace.getActiveSpan();
        if (span) receivedTraceIds.push(span.spanContext().traceId);
      },
    });
    await consumer.start();
  });

  afterAll(async () => {
    await consumer?.stop();
    await dlqReader?.disconnect();
    await rawProducer?.disconnect();
  });

  const queued = (suffix: string, position = 1) => ({
    subject: `${runId}-${suffix}`,
    tenant: 'org-it',
    data: { executionId: `e-${suffix}`, kernelId: `${runId}-${suffix}`, userId: 'u-1', position },
  });

  it('delivers a valid event, validated, with the producer’s trace context', async () => {
    const producerKafka = createProducer(kafka);
    await producerKafka.connect();
    const gateway = new EventProducer(producerKafka, 'gateway', 'it');
    const tracer = trace.getTracer('it');
    let producerTraceId = '';
    await tracer.startActiveSpan('run-cell', async (span) => {
      producerTraceId = span.spanContext().traceId;
      await gateway.publish(ExecuteQueued, queued('valid-1', 2));
      span.end();
    });
    await producerKafka.disconnect();

    await waitFor(() => received.some((e) => e.subject === `${runId}-valid-1`), 60_000, 'the valid event');
    const got = received.find((e) => e.subject === `${runId}-valid-1`)!;
    expect(got.type).toBe('quire.exec.ExecuteQueued');
    expect(got.data).toEqual({
      executionId: 'e-valid-1',
      kernelId: `${runId}-valid-1`,
      userId: 'u-1',
      position: 2,
    });
    expect(got.traceparent).toContain(producerTraceId);
    expect(receivedTraceIds).toContain(producerTraceId);
  });

  it('dead-letters every malformed message with its reason and keeps consuming', async () => {
    const good = createEvent(ExecuteQueued, { ...queued('valid-2'), source: 'gateway/it' });
    const wire = encodeEvent(good);
    const badData = encodeEvent({ ...good, id: uuidv7() });
    badData.value = Buffer.from(
      JSON.stringify({ executionId: 'e', kernelId: 'k', userId: 'u', position: 'first' }),
    );
    const heartbeat = createEvent(HostHeartbeat, {
      subject: `${runId}-host`,
      tenant: 'system',
      source: 'host-worker/it',
      data: {
        hostId: 'h',
        seq: 1,
        capacity: { cpuCores: 1, memoryBytes: 1 },
        free: { cpuCores: 1, memoryBytes: 1 },
        sandboxes: 0,
        warmPool: { ready: 0, target: 0 },
        labels: {},
      },
    });
    await rawProducer.send({
      topic,
      messages: [
        { key: `${runId}-x`, value: Buffer.from('{not json'), headers: wire.headers },
        { key: `${runId}-x`, value: badData.value, headers: badData.headers },
        {
          key: `${runId}-x`,
          value: wire.value,
          headers: { ...wire.headers, ce_type: 'quire.exec.NoSuchEvent' },
        },
        { key: `${runId}-x`, value: encodeEvent(heartbeat).value, headers: encodeEvent(heartbeat).headers },
        { key: `${runId}-x`, value: Buffer.from('{}') },
        // …and a valid one behind them: the consumer must still get to it.
        { key: wire.key, value: wire.value, headers: wire.headers },
      ],
    });

    await waitFor(
      () => received.some((e) => e.subject === `${runId}-valid-2`),
      60_000,
      'the valid event after the bad ones',
    );
    await waitFor(() => dlq.length >= 5, 60_000, 'five dead letters');
    const reasons = dlq.map((d) => d.reason);
    expect(reasons).toEqual([
      expect.stringMatching(/value is not JSON/),
      expect.stringMatching(/invalid data for quire\.exec\.ExecuteQueued: position/),
      expect.stringMatching(/unknown event type: quire\.exec\.NoSuchEvent v1/),
      expect.stringMatching(
        /event on the wrong topic: quire\.host\.HostHeartbeat belongs on host\.events\.v1/,
      ),
      expect.stringMatching(/invalid envelope/),
    ]);
    expect(dlq[0]!.value).toBe('{not json'); // the original bytes are kept
    expect(dlq.every((d) => /^\d+$/.test(d.originalOffset))).toBe(true);
  });

  it('retries a failing handler, and dead-letters one that never succeeds without stopping', async () => {
    const p = createProducer(kafka);
    await p.connect();
    const gateway = new EventProducer(p, 'gateway', 'it');
    await gateway.publish(ExecuteQueued, queued('flaky'));
    await gateway.publish(ExecuteQueued, queued('poison'));
    await gateway.publish(ExecuteQueued, queued('valid-3'));
    await p.disconnect();

    await waitFor(
      () => received.some((e) => e.subject === `${runId}-valid-3`),
      60_000,
      'the event after the poison one',
    );
    expect(received.filter((e) => e.subject === `${runId}-flaky`)).toHaveLength(1);
    expect(flaky).toBe(3);
    await waitFor(
      () => dlq.some((d) => /handler failed after 3 attempts: this handler always fails/.test(d.reason)),
      30_000,
      'the poison message in the DLQ',
    );
  });
});
