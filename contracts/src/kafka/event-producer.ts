import type { Producer } from 'kafkajs';
import { createEvent, type EventData, type EventDefinition, type EventEnvelope } from '../envelope';
import { topicSpec, type ServiceName } from '../topics';
import { injectTraceHeaders } from './trace-context';
import { encodeEvent } from './wire-format';

export interface PublishFields<D extends EventDefinition> {
  subject: string;
  tenant: string;
  data: EventData<D>;
  time?: Date;
  id?: string;
}

/**
 * Validates on produce and refuses to write to a topic another service owns
 * (each stream has exactly one owner). Trace context of the caller is carried
 * in headers.
 */
export class EventProducer {
  constructor(
    private readonly producer: Producer,
    private readonly service: ServiceName,
    private readonly instance: string,
  ) {}

  get source(): string {
    return `${this.service}/${this.instance}`;
  }

  async publish<D extends EventDefinition>(
    def: D,
    fields: PublishFields<D>,
  ): Promise<EventEnvelope<EventData<D>>> {
    const [event] = await this.publishMany(def, [fields]);
    return event!;
  }

  async publishMany<D extends EventDefinition>(
    def: D,
    batch: PublishFields<D>[],
  ): Promise<EventEnvelope<EventData<D>>[]> {
    this.assertOwner(def);
    const trace = injectTraceHeaders();
    const events = batch.map((f) =>
      createEvent(def, {
        ...f,
        source: this.source,
        ...(trace.traceparent ? { traceparent: trace.traceparent } : {}),
      }),
    );
    await this.producer.send({
      topic: def.topic,
      acks: -1,
      messages: events.map((e) => encodeEvent(e, trace.tracestate ? { tracestate: trace.tracestate } : {})),
    });
    return events;
  }

  private assertOwner(def: EventDefinition): void {
    const spec = topicSpec(def.topic);
    if (!spec) throw new Error(`${def.type}: topic ${def.topic} is not in the topic registry`);
    if (spec.owner !== this.service) {
      throw new Error(
        `${this.service} may not publish ${def.type}: topic ${def.topic} is owned by ${spec.owner}`,
      );
    }
  }
}
