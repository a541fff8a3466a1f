import { diffUsage, lineKey, monthStart, nextMonth } from './meter';
import { addUsage, usageKey, type UsageDims, type UsageMap } from './usage';

const dims = (over: Partial<UsageDims> = {}): UsageDims => ({
  periodStart: Date.UTC(2025, 0, 31, 23),
  orgId: 'acme',
  userId: 'ada',
  notebookId: 'nb',
  kernelId: 'k',
  executionId: null,
  cellId: null,
  agentRunId: null,
  resource: 'cpu',
  sku: 'cpu/team',
  chargeTo: 'org',
  ...over,
});

describe('diffUsage: what the ledger must append', () => {
  it('appends new keys, the change of changed keys, and zeroes keys that disappeared', () => {
    const desired: UsageMap = new Map();
    addUsage(desired, dims(), 100n, [{ id: 'e1', time: 1 }]);
    addUsage(desired, dims({ userId: 'bob' }), 50n, [{ id: 'e2', time: 2 }]);
    const gone = dims({ userId: 'cy' });
    const current = new Map([
      [usageKey(dims()), { dims: dims(), base: 70n, count: 1, first: 1, last: 1 }],
      [usageKey(gone), { dims: gone, base: 30n, count: 2, first: 1, last: 3 }],
    ]);
    const d = diffUsage(desired, current);
    expect(d.map((x) => [x.dims.userId, x.base, x.count, x.newBase])).toEqual([
      ['ada', 30n, 0, 100n],
      ['bob', 50n, 1, 50n],
      ['cy', -30n, -2, 0n],
    ]);
    // Nothing changed: nothing to append.
    const same = new Map([[usageKey(dims()), { dims: dims(), base: 100n, count: 1, first: 1, last: 1 }]]);
    const only: UsageMap = new Map();
    addUsage(only, dims(), 100n, [{ id: 'e1', time: 1 }]);
    expect(diffUsage(only, same)).toEqual([]);
  });

  it('groups lines by UTC month', () => {
    expect(new Date(monthStart(Date.UTC(2025, 0, 31, 23, 59))).toISOString()).toBe(
      '2025-01-01T00:00:00.000Z',
    );
    expect(new Date(nextMonth(Date.UTC(2025, 11, 3))).toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(lineKey(Date.UTC(2025, 0, 1), dims())).toBe('2025-01|acme|ada|nb|cpu|cpu/team|org');
  });
});
