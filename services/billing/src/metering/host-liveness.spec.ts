import { firstDead, gapsOf } from './host-liveness';

describe('host liveness', () => {
  it('finds gaps longer than the threshold', () => {
    expect(gapsOf([0, 5000, 10_100, 30_000, 35_000], 10_000)).toEqual([{ start: 10_100, end: 30_000 }]);
  });

  it('says when a host is first dead at or after a time', () => {
    const h = { gaps: [{ start: 10_000, end: 30_000 }], lastHeartbeat: 40_000 };
    expect(firstDead(h, 0, 50_000, 45_000, 10_000)).toEqual({ at: 10_000, recheckAfterW: null });
    expect(firstDead(h, 15_000, 50_000, 45_000, 10_000)).toEqual({ at: 15_000, recheckAfterW: null });
    // After the gap: alive, unless the watermark is past the last heartbeat + threshold.
    expect(firstDead(h, 31_000, 50_000, 45_000, 10_000)).toEqual({ at: Infinity, recheckAfterW: 50_000 });
    expect(firstDead(h, 31_000, 60_000, 55_000, 10_000)).toEqual({ at: 40_000, recheckAfterW: null });
    expect(firstDead(undefined, 0, 1, 1, 1)).toEqual({ at: Infinity, recheckAfterW: null });
  });
});
