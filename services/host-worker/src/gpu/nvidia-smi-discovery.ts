import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { HostGpu } from '@quire/contracts';
import { GpuDiscoveryError, NoGpuDiscovery, type GpuDiscovery } from './gpu-discovery';
import { parseNvidiaSmiXml } from './nvidia-smi-xml';
import { probeNvproxySupport, type NvproxySupport } from './nvproxy-support';

const execFileAsync = promisify(execFile);

/** Runs `nvidia-smi -q -x`; a host without nvidia-smi has no GPUs. */
export class NvidiaSmiGpuDiscovery implements GpuDiscovery {
  constructor(
    private readonly nvproxySupport: () => Promise<NvproxySupport>,
    private readonly nvidiaSmiPath = 'nvidia-smi',
  ) {}

  async discover(): Promise<HostGpu[]> {
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync(this.nvidiaSmiPath, ['-q', '-x'], {
        timeout: 15_000,
        maxBuffer: 32 * 1024 * 1024,
      }));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new GpuDiscoveryError(
        `${this.nvidiaSmiPath} -q -x failed: ${(error as Error).message.split('\n')[0]}`,
      );
    }
    return parseNvidiaSmiXml(stdout, await this.nvproxySupport());
  }
}

/** A recorded `nvidia-smi -q -x` file (tests, development fleets). */
export class RecordedFileGpuDiscovery implements GpuDiscovery {
  constructor(
    private readonly path: string,
    private readonly nvproxySupport: () => Promise<NvproxySupport>,
  ) {}

  async discover(): Promise<HostGpu[]> {
    const xml = await readFile(this.path, 'utf8');
    return parseNvidiaSmiXml(xml, await this.nvproxySupport());
  }
}

/**
 * From `QUIRE_GPU_DISCOVERY`: `nvidia-smi` (default), `none`, or
 * `file:<path to recorded nvidia-smi -q -x output>`.
 */
export function gpuDiscoveryFromSetting(setting: string, runscPath: string): GpuDiscovery {
  const support = () => probeNvproxySupport(runscPath);
  if (setting === 'none') return new NoGpuDiscovery();
  if (setting === 'nvidia-smi') return new NvidiaSmiGpuDiscovery(support);
  if (setting.startsWith('file:') && setting.length > 'file:'.length) {
    return new RecordedFileGpuDiscovery(setting.slice('file:'.length), support);
  }
  throw new GpuDiscoveryError(
    `QUIRE_GPU_DISCOVERY must be "nvidia-smi", "none" or "file:<path>", got ${JSON.stringify(setting)}`,
  );
}
