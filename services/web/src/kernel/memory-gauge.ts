import { formatBytes } from '../ui/format-bytes';

/**
 * The per-kernel memory gauge in the status bar: "1.2 GiB / 8 GiB" with a bar
 * that turns amber above 80 % and red above 95 % of the sandbox's limit —
 * over the limit the kernel is killed (out of memory), so the colour is the
 * warning before the "Kernel died" message.
 */
export type MemoryLevel = 'ok' | 'warn' | 'critical';

export interface MemoryGaugeView {
  usedBytes: number;
  limitBytes: number;
  /** 0–1, clamped (a reading can overshoot the limit for a moment before the kill). */
  fraction: number;
  /** Whole percent for people and assistive technology. */
  percent: number;
  level: MemoryLevel;
  /** "1.2 GiB / 8 GiB" */
  label: string;
  /** "1.2 GiB of 8 GiB (15 %)" — what a screen reader says for the meter. */
  spoken: string;
}

export const WARN_ABOVE = 0.8;
export const CRITICAL_ABOVE = 0.95;

export function memoryLevel(fraction: number): MemoryLevel {
  if (fraction > CRITICAL_ABOVE) return 'critical';
  if (fraction > WARN_ABOVE) return 'warn';
  return 'ok';
}

/** What the gauge shows for a kernel_status `memory` (null: no gauge — kernel not running or no reading). */
export function memoryGaugeView(
  memory: { usedBytes: number; limitBytes: number } | null,
): MemoryGaugeView | null {
  if (!memory || !(memory.limitBytes > 0) || !Number.isFinite(memory.usedBytes)) return null;
  const fraction = Math.min(1, Math.max(0, memory.usedBytes / memory.limitBytes));
  const percent = Math.round(fraction * 100);
  const used = formatBytes(memory.usedBytes);
  const limit = formatBytes(memory.limitBytes);
  return {
    usedBytes: memory.usedBytes,
    limitBytes: memory.limitBytes,
    fraction,
    percent,
    level: memoryLevel(fraction),
    label: `${used} / ${limit}`,
    spoken: `${used} of ${limit} (${percent} %)`,
  };
}

/** The GPU memory gauge beside the RAM gauge: the device's memory, with its utilisation in words. */
export interface GpuMemoryGaugeView extends MemoryGaugeView {
  utilizationPct: number;
}

/**
 * What the GPU gauge shows for a kernel_status `gpuMemory` (the host's
 * ResourceSample): "GPU 12 GiB / 80 GiB", amber and red at the same
 * thresholds (a CUDA out-of-memory error is the GPU's "Kernel died").
 */
export function gpuMemoryGaugeView(
  gpu: { usedBytes: number; totalBytes: number; utilizationPct: number } | null | undefined,
): GpuMemoryGaugeView | null {
  if (!gpu) return null;
  const base = memoryGaugeView({ usedBytes: gpu.usedBytes, limitBytes: gpu.totalBytes });
  if (!base) return null;
  const busy = Math.round(Math.min(100, Math.max(0, gpu.utilizationPct)));
  return {
    ...base,
    utilizationPct: busy,
    label: `GPU ${base.label}`,
    spoken: `${base.spoken}, GPU ${busy} % busy`,
  };
}
