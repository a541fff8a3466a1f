/**
 * Warm pool size per host from the trailing new-kernel rate: the P95 of the
 * per-minute creation counts over the window (30 min by default) × headroom,
 * clamped. A host that saw no creation keeps the floor, so the first kernel
 * after a quiet night still starts warm.
 */
export interface SizingOptions {
  windowMs: number;
  headroom: number;
  min: number;
  max: number;
}

export const DEFAULT_SIZING: SizingOptions = { windowMs: 30 * 60_000, headroom: 1.5, min: 1, max: 16 };

export function warmPoolTarget(
  creations: number[],
  now: number,
  opts: SizingOptions = DEFAULT_SIZING,
): number {
  const minutes = Math.max(1, Math.round(opts.windowMs / 60_000));
  const counts = new Array<number>(minutes).fill(0);
  for (const t of creations) {
    const age = now - t;
    if (age < 0 || age >= opts.windowMs) continue;
    counts[Math.floor(age / 60_000)]! += 1;
  }
  counts.sort((a, b) => a - b);
  const p95 = counts[Math.min(counts.length - 1, Math.ceil(0.95 * counts.length) - 1)]!;
  return Math.min(opts.max, Math.max(opts.min, Math.ceil(p95 * opts.headroom)));
}
