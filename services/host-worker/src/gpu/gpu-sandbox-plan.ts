import { statSync } from 'node:fs';
import type { HostGpu } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { LinuxDeviceNode } from '@quire/sandbox-gvisor';
import type { SandboxGpu } from '../sandbox/gvisor-kernel-sandbox';
import { MIG_NOT_PASSABLE_REASON } from './nvproxy-support';

/** The GPU a StartKernelRequest asks for (contracts: StartKernelRequest.gpu). */
export interface RequestedGpu {
  /** `GPU-…` UUID the gpu-scheduler allocated. */
  device: string;
  /** What the sandbox sees as NVIDIA_VISIBLE_DEVICES (GpuAllocationDto.visibleDevice). */
  visibleDevice: string;
}

/** Reads a device node's major/minor; undefined when absent. */
export type DeviceNodeReader = (path: string) => { major: number; minor: number } | undefined;

export const readDeviceNode: DeviceNodeReader = (path) => {
  try {
    const stat = statSync(path);
    if (!stat.isCharacterDevice()) return undefined;
    return {
      major: Math.floor(stat.rdev / 256) & 0xfff,
      minor: (stat.rdev & 0xff) | ((stat.rdev >> 12) & 0xfff00),
    };
  } catch {
    return undefined;
  }
};

/** Control devices every CUDA process opens besides its /dev/nvidia<N>. */
const CONTROL_DEVICES = ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools'] as const;
const REQUIRED_CONTROL_DEVICES = new Set<string>(['/dev/nvidiactl', '/dev/nvidia-uvm']);

/**
 * How to start a sandbox with exactly the allocated GPU through gVisor's
 * nvproxy: `runsc --nvproxy`, the OCI spec's linux.devices listing the
 * control devices and that one /dev/nvidia<minor> (nvproxy exposes only the
 * devices in the spec), the host's driver libraries (libcuda & co, which
 * must match the host driver) read-only, and NVIDIA_VISIBLE_DEVICES.
 * Refuses, never degrading to a GPU-less sandbox:
 *  - gpu.not_present: the device is not on this host (or its /dev node is missing);
 *  - gpu.mig_not_passable: a MIG device, or a GPU in MIG mode;
 *  - gpu.driver_unsupported: runsc without nvproxy, or a driver it does not support.
 */
export function planGpuSandbox(
  requested: RequestedGpu,
  hostGpus: readonly HostGpu[],
  driverLibraries: readonly string[],
  readNode: DeviceNodeReader = readDeviceNode,
): SandboxGpu {
  const isMigDevice = requested.device.startsWith('MIG-');
  const owner = hostGpus.find(
    (gpu) => gpu.uuid === requested.device || gpu.migInstances.some((mig) => mig.uuid === requested.device),
  );
  if (isMigDevice || (owner && owner.migMode === 'enabled')) {
    throw new QuireError(
      'conflict',
      `GPU ${requested.device} is a MIG device or in MIG mode: ${MIG_NOT_PASSABLE_REASON}`,
      'gpu.mig_not_passable',
    );
  }
  if (!owner) {
    throw new QuireError('not_found', `GPU ${requested.device} is not on this host`, 'gpu.not_present');
  }
  if (!owner.sandbox.wholeGpu) {
    throw new QuireError(
      'unavailable',
      `GPU ${owner.uuid} (driver ${owner.driverVersion}) cannot be passed to a gVisor sandbox: ${owner.sandbox.reason ?? 'nvproxy unavailable'}`,
      'gpu.driver_unsupported',
    );
  }
  const devices: LinuxDeviceNode[] = [];
  for (const path of [...CONTROL_DEVICES, `/dev/nvidia${owner.index}`]) {
    const node = readNode(path);
    if (node) {
      devices.push({ path, type: 'c', ...node });
    } else if (REQUIRED_CONTROL_DEVICES.has(path) || path === `/dev/nvidia${owner.index}`) {
      throw new QuireError(
        'unavailable',
        `GPU ${owner.uuid}: ${path} is missing on this host`,
        'gpu.not_present',
      );
    }
  }
  return {
    runscFlags: ['--nvproxy'],
    devices,
    env: { NVIDIA_VISIBLE_DEVICES: requested.visibleDevice, NVIDIA_DRIVER_CAPABILITIES: 'compute,utility' },
    readOnlyMounts: driverLibraries.map((source) => ({ source, destination: source })),
  };
}
