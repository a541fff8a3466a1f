import {
  backfillAllowed,
  etaSeconds,
  expectedReleaseMs,
  orderQueue,
  overQuota,
  typicalHold,
} from './queue-policy';

const q = (requestId: string, tenant: string, queueSeq: number, slots = 8) => ({
  requestId,
  tenant,
  slots,
  queueSeq,
  requestedAtMs: 1000 * queueSeq,
});

describe('queue policy', () => {
  it('orders by the slots each tenant holds, FIFO within', () => {
    const held = new Map([['big', 16]]);
    const order = orderQueue(
      [q('a', 'big', 1), q('b', 'small', 2), q('c', 'big', 3), q('d', 'small', 4)],
      held,
    );
    expect(order.map((x) => x.requestId)).toEqual(['b', 'd', 'a', 'c']);
    expect(orderQueue([q('a', 'x', 2), q('b', 'y', 1)], new Map()).map((x) => x.requestId)).toEqual([
      'b',
      'a',
    ]);
  });

  it('quota counts what the tenant holds plus the request', () => {
    expect(overQuota(q('a', 't', 1, 8), new Map([['t', 8]]), 16)).toBe(false);
    expect(overQuota(q('a', 't', 1, 8), new Map([['t', 9]]), 16)).toBe(true);
  });

  it('lets smaller requests pass the front only until it has waited long enough', () => {
    const front = q('a', 't', 1);
    expect(backfillAllowed(front, 1000 + 59_000, 60_000)).toBe(true);
    expect(backfillAllowed(front, 1000 + 60_000, 60_000)).toBe(false);
  });

  it('an idle kernel is expected to let go at its idle deadline; a busy one after a typical hold', () => {
    const now = 100_000;
    expect(
      expectedReleaseMs(
        { slots: 8, allocatedAtMs: 0, idleSinceMs: 90_000, idleHibernateMs: 300_000 },
        now,
        null,
      ),
    ).toBe(390_000);
    expect(
      expectedReleaseMs(
        { slots: 8, allocatedAtMs: 0, idleSinceMs: null, idleHibernateMs: 300_000 },
        now,
        1_000_000,
      ),
    ).toBe(1_000_000);
    // Never sooner than one idle period from now.
    expect(
      expectedReleaseMs({ slots: 8, allocatedAtMs: 0, idleSinceMs: null, idleHibernateMs: 300_000 }, now, 10),
    ).toBe(400_000);
  });

  it('ETA: position 1 waits for the first release, position 2 for the second', () => {
    const now = 0;
    const running = [
      { slots: 8, allocatedAtMs: 0, idleSinceMs: 0, idleHibernateMs: 240_000 },
      { slots: 8, allocatedAtMs: 0, idleSinceMs: 0, idleHibernateMs: 60_000 },
    ];
    expect(etaSeconds([], 8, running, now, null)).toBe(60);
    expect(etaSeconds([8], 8, running, now, null)).toBe(240);
    // Deeper than the running allocations: one more typical hold per lap.
    expect(etaSeconds([8, 8], 8, running, now, 600_000)).toBe(660);
    expect(etaSeconds([], 8, running, now, null, 8)).toBe(0);
  });

  it('typical hold is the median, and unknown below three samples', () => {
    expect(typicalHold([1, 2])).toBeNull();
    expect(typicalHold([5, 1, 3])).toBe(3);
    expect(typicalHold([4, 1, 3, 2])).toBe(2.5);
  });
});
