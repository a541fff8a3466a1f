import type { HostGpu } from '@quire/contracts';

/** Where a host worker learns which GPUs it has. */
export interface GpuDiscovery {
  discover(): Promise<HostGpu[]>;
}

/** A host without NVIDIA GPUs (or without nvidia-smi). */
export class NoGpuDiscovery implements GpuDiscovery {
  discover(): Promise<HostGpu[]> {
    return Promise.resolve([]);
  }
}

/** Thrown for output that is not `nvidia-smi -q -x` XML we understand. */
export class GpuDiscoveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuDiscoveryError';
  }
}
