import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** ResourceSample.gpu for one device. */
export interface GpuUsage {
  utilizationPct: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
}

const MiB = 1024 ** 2;

/**
 * Parses `nvidia-smi --query-gpu=uuid,utilization.gpu,memory.used,memory.total
 * --format=csv,noheader,nounits` (MiB). Rows with `[N/A]` (e.g. MIG mode) are left out.
 */
export function parseGpuUsageCsv(csv: string): Map<string, GpuUsage> {
  const usage = new Map<string, GpuUsage>();
  for (const line of csv.split('\n')) {
    const [uuid, utilization, used, total] = line.split(',').map((field) => field.trim());
    if (!uuid || !utilization || !used || !total) continue;
    const numbers = [utilization, used, total].map(Number);
    if (numbers.some((n) => !Number.isFinite(n))) continue;
    const [utilizationPct, usedMiB, totalMiB] = numbers as [number, number, number];
    usage.set(uuid, {
      utilizationPct: Math.min(100, Math.max(0, utilizationPct)),
      memoryUsedBytes: usedMiB * MiB,
      memoryTotalBytes: totalMiB * MiB,
    });
  }
  return usage;
}

/** Current use of every GPU nvidia-smi can read; empty when it cannot (no GPU, no nvidia-smi). */
export async function readGpuUsage(nvidiaSmiPath = 'nvidia-smi'): Promise<Map<string, GpuUsage>> {
  try {
    const { stdout } = await execFileAsync(
      nvidiaSmiPath,
      ['--query-gpu=uuid,utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'],
      { timeout: 10_000 },
    );
    return parseGpuUsageCsv(stdout);
  } catch {
    return new Map();
  }
}
