import type { HostGpu, HostMigInstance } from '@quire/contracts';
import { XMLParser } from 'fast-xml-parser';
import { GpuDiscoveryError } from './gpu-discovery';
import { gpuTypeForProductName } from './gpu-type';
import { sandboxCapability, type NvproxySupport } from './nvproxy-support';

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => name === 'gpu' || name === 'mig_device',
});

function text(node: unknown, path: string[]): string | undefined {
  let current: unknown = node;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as XmlNode)[key];
  }
  if (typeof current === 'string') {
    const value = current.trim();
    return value.length > 0 && value !== 'N/A' ? value : undefined;
  }
  return undefined;
}

const MEMORY_UNITS = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;

/** `81559 MiB` → bytes. */
function parseMemory(value: string | undefined, what: string): number {
  const match = value?.match(/^(\d+)\s*(KiB|MiB|GiB)$/);
  if (!match?.[1] || !match[2])
    throw new GpuDiscoveryError(`${what}: expected e.g. "81559 MiB", got ${JSON.stringify(value)}`);
  return Number(match[1]) * MEMORY_UNITS[match[2] as keyof typeof MEMORY_UNITS];
}

function parseMigMode(gpu: XmlNode): HostGpu['migMode'] {
  const current = text(gpu, ['mig_mode', 'current_mig']);
  if (current === 'Enabled') return 'enabled';
  if (current === 'Disabled') return 'disabled';
  return 'unsupported';
}

/**
 * MIG devices. `nvidia-smi -q -x` itself prints no profile or placement for a
 * MIG device; recorded/mock files (and newer drivers) may carry
 * `gpu_instance_profile` and `placement/start|size`. Instances without them
 * are left out rather than guessed.
 */
function parseMigInstances(gpu: XmlNode): HostMigInstance[] {
  const devices = (gpu.mig_devices as XmlNode | undefined)?.mig_device;
  if (!Array.isArray(devices)) return [];
  const instances: HostMigInstance[] = [];
  for (const device of devices as XmlNode[]) {
    const profile = text(device, ['gpu_instance_profile'])?.replace(/^MIG\s+/, '');
    const start = text(device, ['placement', 'start']);
    const size = text(device, ['placement', 'size']);
    if (!profile || start === undefined || size === undefined) continue;
    const uuid = text(device, ['uuid']);
    instances.push({ profile, start: Number(start), size: Number(size), ...(uuid ? { uuid } : {}) });
  }
  return instances;
}

/** Parses `nvidia-smi -q -x` output into the host's GPUs. */
export function parseNvidiaSmiXml(xml: string, support: NvproxySupport): HostGpu[] {
  let document: XmlNode;
  try {
    document = parser.parse(xml, true) as XmlNode;
  } catch (error) {
    throw new GpuDiscoveryError(`nvidia-smi XML does not parse: ${(error as Error).message}`);
  }
  const log = document.nvidia_smi_log as XmlNode | undefined;
  if (!log || typeof log !== 'object')
    throw new GpuDiscoveryError('not nvidia-smi -q -x output: no <nvidia_smi_log>');
  const driverVersion = text(log, ['driver_version']);
  if (!driverVersion) throw new GpuDiscoveryError('nvidia-smi XML has no <driver_version>');
  const cudaVersion = text(log, ['cuda_version']);
  const gpus = (log.gpu as XmlNode[] | undefined) ?? [];
  return gpus.map((gpu, position) => {
    const model = text(gpu, ['product_name']);
    const uuid = text(gpu, ['uuid']);
    if (!model || !uuid) throw new GpuDiscoveryError(`GPU #${position} has no <product_name> or <uuid>`);
    const minor = text(gpu, ['minor_number']);
    const index = minor !== undefined && /^\d+$/.test(minor) ? Number(minor) : position;
    return {
      uuid,
      index,
      model,
      gpuType: gpuTypeForProductName(model),
      memoryBytes: parseMemory(text(gpu, ['fb_memory_usage', 'total']), `GPU ${uuid} fb_memory_usage total`),
      driverVersion,
      ...(cudaVersion ? { cudaVersion } : {}),
      migMode: parseMigMode(gpu),
      migInstances: parseMigInstances(gpu),
      sandbox: sandboxCapability(support, driverVersion),
      cudaCheckpoint: false,
    };
  });
}
