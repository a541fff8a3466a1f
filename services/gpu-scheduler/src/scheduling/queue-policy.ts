/**
 * The queue's rules, pure (the scheduler's transaction and the unit tests
 * share them).
 *
 * Order: fair share first — the tenant holding the fewest memory slots of the
 * pool goes first — and FIFO within it (and between tenants holding the
 * same). A request whose tenant is at its quota keeps its place but is
 * skipped until the tenant frees a slot; it never blocks the others.
 *
 * Backfill: when the request at the front does not fit, a later, smaller one
 * that fits may go ahead — until the front has waited `backfillMaxWaitMs`;
 * from then on nothing passes it, so the capacity that frees up goes to it
 * (no starvation of large requests by a stream of small ones).
 */
export interface QueuedRequest {
  requestId: string;
  tenant: string;
  slots: number;
  queueSeq: number;
  requestedAtMs: number;
}

export function orderQueue<Q extends QueuedRequest>(
  queued: readonly Q[],
  heldSlotsByTenant: ReadonlyMap<string, number>,
): Q[] {
  return [...queued].sort(
    (a, b) =>
      (heldSlotsByTenant.get(a.tenant) ?? 0) - (heldSlotsByTenant.get(b.tenant) ?? 0) ||
      a.queueSeq - b.queueSeq,
  );
}

export function overQuota(
  req: QueuedRequest,
  heldSlotsByTenant: ReadonlyMap<string, number>,
  quotaSlots: number,
): boolean {
  return (heldSlotsByTenant.get(req.tenant) ?? 0) + req.slots > quotaSlots;
}

/** May requests behind an unplaceable front request still be placed? */
export function backfillAllowed(front: QueuedRequest, nowMs: number, backfillMaxWaitMs: number): boolean {
  return nowMs - front.requestedAtMs < backfillMaxWaitMs;
}

/** A held allocation, as the ETA sees it. */
export interface RunningAllocation {
  slots: number;
  allocatedAtMs: number;
  /** The kernel's last IDLE (kernel.lifecycle.v1) while it holds the GPU; null = busy or not known. */
  idleSinceMs: number | null;
  /** Its tier's idle → hibernate time (the lifecycle's policy), when known. */
  idleHibernateMs: number | null;
}

/** Fallback expected hold when the pool has no history yet and the policy says nothing: 30 min. */
export const DEFAULT_HOLD_MS = 30 * 60_000;

/**
 * When each running allocation is expected to end: an idle kernel at its
 * idle deadline; a busy one when it has been held as long as allocations of
 * this pool typically are (median of past holds), and never sooner than one
 * idle period from now (it must go idle first).
 */
export function expectedReleaseMs(a: RunningAllocation, nowMs: number, typicalHoldMs: number | null): number {
  if (a.idleSinceMs !== null && a.idleHibernateMs !== null)
    return Math.max(nowMs, a.idleSinceMs + a.idleHibernateMs);
  const hold = typicalHoldMs ?? (a.idleHibernateMs !== null ? 2 * a.idleHibernateMs : DEFAULT_HOLD_MS);
  return Math.max(nowMs + (a.idleHibernateMs ?? 0), a.allocatedAtMs + hold);
}

/**
 * Seconds until the request at `position` (1 = next) can expect its slots:
 * the expected releases in time order free slots; the requests ahead of it
 * take theirs first. Past the last running allocation, each further round of
 * the queue waits one typical hold. An estimate that ignores fragmentation
 * (a freed slot is assumed usable): the UI says "about".
 */
export function etaSeconds(
  aheadSlots: readonly number[],
  ownSlots: number,
  running: readonly RunningAllocation[],
  nowMs: number,
  typicalHoldMs: number | null,
  freeSlotsNow = 0,
): number {
  const releases = running
    .map((a) => ({ at: expectedReleaseMs(a, nowMs, typicalHoldMs), slots: a.slots }))
    .sort((x, y) => x.at - y.at);
  const need = aheadSlots.reduce((n, s) => n + s, 0) + ownSlots;
  let freed = freeSlotsNow;
  if (freed >= need) return 0;
  const round = typicalHoldMs ?? DEFAULT_HOLD_MS;
  if (releases.length === 0) return Math.ceil(round / 1000);
  for (let lap = 0; lap < 1000; lap++)
    for (const r of releases) {
      freed += r.slots;
      if (freed >= need) return Math.max(0, Math.ceil((r.at + lap * round - nowMs) / 1000));
    }
  return Math.ceil((1000 * round) / 1000);
}

/** Median of past hold durations (ms), or null with fewer than 3 to go on. */
export function typicalHold(pastHoldsMs: readonly number[]): number | null {
  if (pastHoldsMs.length < 3) return null;
  const s = [...pastHoldsMs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
