import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const MIG_NOT_PASSABLE_REASON = 'gVisor nvproxy does not expose /dev/nvidia-caps (MIG)';

/** What this host's runsc build can do with NVIDIA GPUs. */
export type NvproxySupport =
  { available: true; supportedDrivers: ReadonlySet<string> } | { available: false; reason: string };

/** Parses `runsc nvproxy list-supported-drivers`: one driver version per line. */
export function parseSupportedDrivers(output: string): Set<string> {
  const versions = output
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => /^\d+\.\d+(\.\d+)?$/.test(line));
  return new Set(versions);
}

/** Asks runsc which NVIDIA driver versions its nvproxy supports; never throws. */
export async function probeNvproxySupport(runscPath: string, timeoutMs = 10_000): Promise<NvproxySupport> {
  try {
    const { stdout } = await execFileAsync(runscPath, ['nvproxy', 'list-supported-drivers'], {
      timeout: timeoutMs,
    });
    const supportedDrivers = parseSupportedDrivers(stdout);
    if (supportedDrivers.size === 0) {
      return {
        available: false,
        reason: `${runscPath} nvproxy list-supported-drivers printed no driver versions`,
      };
    }
    return { available: true, supportedDrivers };
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return {
      available: false,
      reason: `${runscPath} nvproxy list-supported-drivers failed (runsc without nvproxy?): ${detail}`,
    };
  }
}

/** What a gVisor sandbox can be given of one GPU with this driver. */
export function sandboxCapability(
  support: NvproxySupport,
  driverVersion: string,
): { wholeGpu: boolean; migSlices: false; reason?: string } {
  if (!support.available) return { wholeGpu: false, migSlices: false, reason: support.reason };
  if (!support.supportedDrivers.has(driverVersion)) {
    return {
      wholeGpu: false,
      migSlices: false,
      reason: `driver ${driverVersion} is not supported by this runsc's nvproxy; ${MIG_NOT_PASSABLE_REASON}`,
    };
  }
  return { wholeGpu: true, migSlices: false, reason: MIG_NOT_PASSABLE_REASON };
}
