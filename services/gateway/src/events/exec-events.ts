import {
  ExecuteCompleted,
  ExecuteQueued,
  ExecuteRequested,
  ExecuteStarted,
  Interrupted,
  type EventData,
  type EventDefinition,
} from '@quire/contracts';
import type { EventProducer } from '@quire/contracts/kafka';
import type { JsonLogger } from '@quire/service-kit';

/**
 * exec.v1 (owned by the gateway). Publishing is off the execution's critical
 * path: events of one kernel are sent in order on one chain, and a Kafka
 * hiccup is logged, never turned into a failed cell.
 */
export class ExecEvents {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly producer: EventProducer | null,
    private readonly logger: JsonLogger,
  ) {}

  requested(tenant: string, d: EventData<typeof ExecuteRequested>): void {
    this.send(ExecuteRequested, tenant, d.kernelId, d);
  }
  queued(tenant: string, d: EventData<typeof ExecuteQueued>): void {
    this.send(ExecuteQueued, tenant, d.kernelId, d);
  }
  started(tenant: string, d: EventData<typeof ExecuteStarted>): void {
    this.send(ExecuteStarted, tenant, d.kernelId, d);
  }
  completed(tenant: string, d: EventData<typeof ExecuteCompleted>): void {
    this.send(ExecuteCompleted, tenant, d.kernelId, d);
  }
  interrupted(tenant: string, d: EventData<typeof Interrupted>): void {
    this.send(Interrupted, tenant, d.kernelId, d);
  }

  /** Resolves when everything sent so far is acknowledged (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all(this.chains.values());
  }

  private send<D extends EventDefinition>(
    def: D,
    tenant: string,
    kernelId: string,
    data: EventData<D>,
  ): void {
    const producer = this.producer;
    if (!producer) return;
    const prev = this.chains.get(kernelId) ?? Promise.resolve();
    const next = prev
      .then(() => producer.publish(def, { subject: kernelId, tenant, data }))
      .then(
        () => undefined,
        (err: unknown) =>
          this.logger.warn('exec event not published', { type: def.type, kernelId, error: String(err) }),
      );
    this.chains.set(kernelId, next);
    void next.then(() => {
      if (this.chains.get(kernelId) === next) this.chains.delete(kernelId);
    });
  }
}
