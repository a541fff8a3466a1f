import { cpus, totalmem } from 'node:os';
import { HostHeartbeat, SYSTEM_TENANT } from '@quire/contracts';
import type { EventProducer } from '@quire/contracts/kafka';
import type { JsonLogger } from '@quire/service-kit';
import type { HostWorkerConfig } from '../config';
import type { GpuInventory } from '../gpu/gpu-inventory';
import type { KernelHost } from '../kernels/kernel-host';

/**
 * HostHeartbeat every QUIRE_HEARTBEAT_INTERVAL_MS (5 s): capacity and what is
 * still free for placement (by allocation, not by momentary use), plus
 * ResourceSamples of every kernel at their own interval. Five seconds without
 * a heartbeat marks the host lost (the lifecycle's rule).
 */
export class HeartbeatLoop {
  private seq = 0;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly cfg: HostWorkerConfig,
    private readonly events: EventProducer,
    private readonly host: KernelHost,
    private readonly log: JsonLogger,
    private readonly gpus?: GpuInventory,
  ) {}

  async beat(): Promise<void> {
    const cores = cpus().length;
    const memory = totalmem();
    const pool = this.host.warmPoolStats();
    await this.events.publish(HostHeartbeat, {
      subject: this.cfg.QUIRE_HOST_ID,
      tenant: SYSTEM_TENANT,
      data: {
        hostId: this.cfg.QUIRE_HOST_ID,
        seq: this.seq++,
        capacity: { cpuCores: cores, memoryBytes: memory },
        free: {
          cpuCores: Math.max(0, cores - this.host.allocatedCpus),
          memoryBytes: Math.max(0, memory - this.host.allocatedMemoryBytes),
        },
        sandboxes: this.host.size,
        warmPool: { ready: pool?.ready ?? 0, target: pool?.target ?? 0 },
        labels: this.cfg.QUIRE_HOST_LABELS,
        apiUrl: this.cfg.apiUrl,
        gpus: this.gpus?.current() ?? [],
      },
    });
  }

  start(): void {
    const guard = (what: string, fn: () => Promise<unknown>) => () =>
      void fn().catch((err: Error) => this.log.warn(`${what} failed`, { error: err.message }));
    void guard('heartbeat', () => this.beat())();
    this.timers.push(
      setInterval(
        guard('heartbeat', () => this.beat()),
        this.cfg.QUIRE_HEARTBEAT_INTERVAL_MS,
      ),
    );
    this.timers.push(
      setInterval(
        guard('resource samples', () => this.host.publishResourceSamples()),
        this.cfg.QUIRE_RESOURCE_SAMPLE_INTERVAL_MS,
      ),
    );
  }

  stop(): void {
    this.timers.forEach(clearInterval);
    this.timers = [];
  }
}
