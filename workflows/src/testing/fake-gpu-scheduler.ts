import type { GpuAllocationDto, GpuRequestState } from '@quire/contracts';
import type { GpuAnswer, GpuAsk, GpuRelease } from '../workflows/lifecycle-activities';

/**
 * An in-memory gpu-scheduler behind the lifecycle's GPU activities, for
 * workflow tests with mocked activities: whole GPUs only, FIFO queue with
 * position and an ETA of `etaPerPositionS` per place, idempotent requests and
 * releases as the contract (gpu-scheduler-api.ts) promises. Every call and
 * release is recorded for assertions.
 */
export interface FakeGpuDevice {
  hostId: string;
  device: string;
  gpuType: string;
  visibleDevice: string;
  cudaCheckpoint: boolean;
}

export class FakeGpuScheduler {
  readonly requests = new Map<string, GpuRequestState>();
  readonly releases: GpuRelease[] = [];
  readonly asks: GpuAsk[] = [];
  private readonly queue: string[] = [];
  private readonly holder = new Map<string, string>();

  constructor(
    readonly devices: FakeGpuDevice[],
    readonly etaPerPositionS = 120,
  ) {}

  requestGpu = async (req: GpuAsk): Promise<GpuAnswer> => {
    this.asks.push(req);
    const known = this.requests.get(req.requestId);
    if (known) return this.answer(known);
    const state: GpuRequestState = {
      requestId: req.requestId,
      kernelId: req.kernelId,
      tenant: req.tenant,
      gpuType: req.gpuType,
      profile: req.profile,
      phase: 'queued',
      position: null,
      etaS: null,
      allocation: null,
      reason: null,
      requestedAt: new Date().toISOString(),
    };
    this.requests.set(req.requestId, state);
    if (!this.tryAllocate(state)) this.queue.push(req.requestId);
    return this.answer(state);
  };

  releaseGpu = async (req: GpuRelease): Promise<GpuRequestState> => {
    const state = this.requests.get(req.requestId);
    if (!state) throw new Error(`gpu.request_not_found: ${req.requestId}`);
    if (state.phase === 'released') return state;
    this.releases.push(req);
    const wasQueued = this.queue.indexOf(req.requestId);
    if (wasQueued >= 0) this.queue.splice(wasQueued, 1);
    if (state.allocation) this.holder.delete(state.allocation.device);
    state.phase = 'released';
    state.reason = req.reason;
    this.drainQueue();
    return { ...state };
  };

  /** Device → the requestId holding it. */
  heldBy(device: string): string | undefined {
    return this.holder.get(device);
  }

  private drainQueue(): void {
    for (const id of [...this.queue]) {
      const next = this.requests.get(id)!;
      if (this.tryAllocate(next)) this.queue.splice(this.queue.indexOf(id), 1);
    }
  }

  private tryAllocate(state: GpuRequestState): boolean {
    const free = this.devices.find((d) => d.gpuType === state.gpuType && !this.holder.has(d.device));
    if (!free) return false;
    this.holder.set(free.device, state.requestId);
    const allocation: GpuAllocationDto = {
      hostId: free.hostId,
      device: free.device,
      gpuType: free.gpuType,
      slice: state.profile === 'full' ? null : state.profile,
      startSlot: null,
      visibleDevice: free.visibleDevice,
      allocatedAt: new Date().toISOString(),
    };
    state.phase = 'allocated';
    state.allocation = allocation;
    return true;
  }

  private answer(state: GpuRequestState): GpuAnswer {
    const position = state.phase === 'queued' ? this.queue.indexOf(state.requestId) + 1 : null;
    const device = state.allocation
      ? this.devices.find((d) => d.device === state.allocation!.device)
      : undefined;
    return {
      ...state,
      position,
      etaS: position === null ? null : position * this.etaPerPositionS,
      cudaCheckpoint: device?.cudaCheckpoint ?? false,
    };
  }
}
