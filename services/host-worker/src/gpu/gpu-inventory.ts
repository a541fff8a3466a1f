import type { HostGpu } from '@quire/contracts';
import type { GpuDiscovery } from './gpu-discovery';

/**
 * The host's GPUs for heartbeats: discovered at start and refreshed every
 * `refreshIntervalMs` (not every beat: nvidia-smi -q -x takes hundreds of ms).
 * A failed refresh keeps the last good answer and is reported to `onError`.
 */
export class GpuInventory {
  private gpus: HostGpu[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly discovery: GpuDiscovery,
    private readonly refreshIntervalMs: number,
    private readonly onError: (error: Error) => void,
  ) {}

  /** The GPUs as last discovered. */
  current(): HostGpu[] {
    return this.gpus;
  }

  async refresh(): Promise<HostGpu[]> {
    try {
      this.gpus = await this.discovery.discover();
    } catch (error) {
      this.onError(error instanceof Error ? error : new Error(String(error)));
    }
    return this.gpus;
  }

  /** First discovery (awaited), then periodic refreshes. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
