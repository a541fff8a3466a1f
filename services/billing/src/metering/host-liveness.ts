/**
 * Host loss from heartbeats. A host is lost between two heartbeats further
 * apart than the loss threshold (a gap), and after its last heartbeat once the
 * watermark is more than the threshold past it (the trailing gap). A kernel
 * interval on a lost host ends at the last heartbeat before the loss.
 */
export interface HostGap {
  start: number;
  end: number;
}

export interface HostLiveness {
  /** Closed gaps, sorted by start, non-overlapping. */
  gaps: HostGap[];
  lastHeartbeat: number | null;
}

/** Gaps between consecutive heartbeat times (sorted ascending, may repeat). */
export function gapsOf(heartbeats: readonly number[], lossAfterMs: number): HostGap[] {
  const gaps: HostGap[] = [];
  for (let i = 1; i < heartbeats.length; i++) {
    const prev = heartbeats[i - 1]!;
    const next = heartbeats[i]!;
    if (next - prev > lossAfterMs) gaps.push({ start: prev, end: next });
  }
  return gaps;
}

export interface DeadPoint {
  /** When the host is first dead at or after the start; Infinity when it is not. */
  at: number;
  /** The watermark past which this answer may change (the trailing gap could appear); null when it cannot. */
  recheckAfterW: number | null;
}

/**
 * The first moment at or after `start` at which `host` is dead. `end` is where
 * the interval would end otherwise (only used to decide whether a trailing gap
 * could still cut it).
 */
export function firstDead(
  host: HostLiveness | undefined,
  start: number,
  end: number,
  watermark: number,
  lossAfterMs: number,
): DeadPoint {
  if (!host) return { at: Infinity, recheckAfterW: null };
  for (const g of host.gaps) {
    if (g.end > start) return { at: Math.max(g.start, start), recheckAfterW: null };
  }
  const last = host.lastHeartbeat;
  if (last !== null) {
    if (watermark - last > lossAfterMs) return { at: Math.max(last, start), recheckAfterW: null };
    if (end > last) return { at: Infinity, recheckAfterW: last + lossAfterMs };
  }
  return { at: Infinity, recheckAfterW: null };
}

export function sameGaps(a: readonly HostGap[], b: readonly HostGap[]): boolean {
  return a.length === b.length && a.every((g, i) => g.start === b[i]!.start && g.end === b[i]!.end);
}
