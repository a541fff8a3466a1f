import 'reflect-metadata';
import { Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExecuteQueued, TOPICS, uuidv7, type EventEnvelope } from '@quire/contracts';
import { createKafka, createProducer, EventConsumer, EventProducer } from '@quire/contracts/kafka';
import { EventConsumers, SERVICE_LOGGER } from '../src/event-consumers';
import { HealthModule } from '../src/health/health.module';
import { Readiness } from '../src/health/readiness';
import { JsonLogger } from '../src/logger';
import { platformVar } from '../src/testing';

jest.setTimeout(120_000);

const runId = `drain-${uuidv7().slice(-12)}`;
const groupId = `service-kit-drain-${runId}`;
const log: string[] = [];
let readinessDuringHandler: boolean | undefined;

@Injectable()
class SlowHandler implements OnModuleInit {
  constructor(
    @Inject(EventConsumers) private readonly consumers: EventConsumers,
    @Inject(Readiness) private readonly readiness: Readiness,
  ) {}

  onModuleInit(): void {
    this.consumers.add({
      kafka: createKafka({ brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','), clientId: 'drain-it' }),
      groupId,
      topics: [TOPICS.exec.name],
      fromBeginning: true,
      handler: async (event: EventEnvelope) => {
        if (!event.subject.startsWith(runId)) return;
        log.push(`start ${event.subject}`);
        await new Promise((r) => setTimeout(r, 1500));
        readinessDuringHandler = (await this.readiness.evaluate()).ready;
        log.push(`end ${event.subject}`);
      },
    });
  }
}

@Module({
  imports: [HealthModule],
  providers: [
    { provide: SERVICE_LOGGER, useValue: new JsonLogger('drain-it', 'error') },
    EventConsumers,
    SlowHandler,
  ],
})
class DrainTestModule {}

function until(p: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const t = () =>
      p() ? resolve() : Date.now() > end ? reject(new Error(`timed out: ${what}`)) : setTimeout(t, 25);
    t();
  });
}

describe('graceful shutdown drains Kafka consumers', () => {
  it('finishes the message in flight, reports not-ready meanwhile, and commits it (no redelivery)', async () => {
    const app = await NestFactory.createApplicationContext(DrainTestModule, { logger: false });
    await app.init();

    const kafka = createKafka({
      brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','),
      clientId: 'drain-it-producer',
    });
    const producer = createProducer(kafka);
    await producer.connect();
    const gateway = new EventProducer(producer, 'gateway', 'it');
    const data = (s: string) => ({ executionId: `e-${s}`, kernelId: 'k', userId: 'u', position: 1 });
    await gateway.publish(ExecuteQueued, { subject: `${runId}-slow`, tenant: 'org', data: data('slow') });

    await until(() => log.includes(`start ${runId}-slow`), 60_000, 'handler start');
    await app.close(); // SIGTERM path: beforeApplicationShutdown drains
    expect(log).toEqual([`start ${runId}-slow`, `end ${runId}-slow`]);
    expect(readinessDuringHandler).toBe(false);

    // Same group again: the drained message was committed, so only the new one arrives.
    const seen: string[] = [];
    const again = new EventConsumer({
      kafka,
      groupId,
      topics: [TOPICS.exec.name],
      fromBeginning: true,
      handler: async (e) => {
        if (e.subject.startsWith(runId)) seen.push(e.subject);
      },
    });
    await again.start();
    await gateway.publish(ExecuteQueued, { subject: `${runId}-after`, tenant: 'org', data: data('after') });
    await until(() => seen.includes(`${runId}-after`), 60_000, 'the next message');
    expect(seen).toEqual([`${runId}-after`]);
    await again.stop();
    await producer.disconnect();
  });
});
