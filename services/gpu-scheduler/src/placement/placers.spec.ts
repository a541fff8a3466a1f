import fc from 'fast-check';
import { applyPlacement, feasibleStarts, layoutViolation, releasePart, type GpuLayout } from './gpu-layout';
import { MIG_RULES, migKindOf, migProfilesOf, type MigKind } from './mig-profiles';
import { bestFitPlacer, firstFitPlacer, fragmentationAwarePlacer, PLACERS, type GpuPlacer } from './placers';

const KINDS = Object.keys(MIG_RULES) as MigKind[];
const fleetOf = (n: number, mig = true): GpuLayout[] =>
  Array.from({ length: n }, (_, i) => ({ uuid: `GPU-${i}`, gpuType: 'h100-80gb', mig, parts: [] }));

type Op = { op: 'alloc'; kind: MigKind } | { op: 'release'; pick: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...KINDS).map((kind) => ({ op: 'alloc' as const, kind })) },
  { weight: 1, arbitrary: fc.nat(1000).map((pick) => ({ op: 'release' as const, pick })) },
);

/** Runs ops through a placer; returns the fleet after each op and how many allocations were admitted. */
function simulate(
  placer: GpuPlacer,
  gpus: number,
  ops: readonly Op[],
  onStep?: (fleet: GpuLayout[]) => void,
) {
  let fleet = fleetOf(gpus);
  let admitted = 0;
  const live: string[] = [];
  ops.forEach((o, i) => {
    if (o.op === 'alloc') {
      const id = `a${i}`;
      const p = placer.place(fleet, { allocationId: id, gpuType: 'h100-80gb', kind: o.kind });
      if (p) {
        expect(
          feasibleStarts(
            fleet.find((g) => g.uuid === p.uuid)!,
            o.kind,
          ),
        ).toContain(p.start);
        fleet = fleet.map((g) => (g.uuid === p.uuid ? applyPlacement(g, id, p) : g));
        live.push(id);
        admitted++;
      }
    } else if (live.length > 0) {
      const [id] = live.splice(o.pick % live.length, 1);
      fleet = fleet.map((g) => releasePart(g, id!));
    }
    onStep?.(fleet);
  });
  return { fleet, admitted };
}

describe('MIG table', () => {
  it('maps profile names per GPU type and refuses ones a type does not offer', () => {
    expect(migKindOf('h100-80gb', '3g.40gb')).toBe('3g');
    expect(migKindOf('h200-141gb', '1g.35gb')).toBe('1g.2slot');
    expect(migKindOf('a100-40gb', '7g.40gb')).toBe('7g');
    expect(migKindOf('h100-80gb', '3g.71gb')).toBeNull();
    expect(migKindOf('l4-24gb', '1g.10gb')).toBeNull();
    expect(migProfilesOf('h100-80gb')[0]).toBe('7g.80gb');
  });

  it('follows NVIDIA: 4g+3g fits, 7 × 1g fit and an 8th does not, 3g only at 0 or 4', () => {
    let gpu = fleetOf(1)[0]!;
    gpu = applyPlacement(gpu, 'x', { uuid: gpu.uuid, kind: '4g', start: 0, size: 4 });
    expect(feasibleStarts(gpu, '3g')).toEqual([4]);
    expect(feasibleStarts(gpu, '4g')).toEqual([]);
    let small = fleetOf(1)[0]!;
    for (let i = 0; i < 7; i++)
      small = applyPlacement(small, `s${i}`, { uuid: 'GPU-0', kind: '1g', start: i, size: 1 });
    expect(layoutViolation(small)).toBeNull();
    expect(feasibleStarts(small, '1g')).toEqual([]);
    expect(
      layoutViolation({ ...fleetOf(1)[0]!, parts: [{ allocationId: 'b', kind: '3g', start: 2, size: 4 }] }),
    ).toMatch(/may not start/);
  });

  it('hands out whole GPUs only on MIG-disabled, empty GPUs', () => {
    const [whole] = fleetOf(1, false);
    expect(feasibleStarts(whole!, null)).toEqual([0]);
    expect(feasibleStarts(whole!, '1g')).toEqual([]);
    expect(feasibleStarts(fleetOf(1)[0]!, null)).toEqual([]);
  });
});

describe('placers (property tests against the MIG table)', () => {
  it.each(PLACERS.map((p) => [p.name, p] as const))(
    '%s never produces an overlapping or disallowed layout',
    (_name, placer) => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 4 }), fc.array(opArb, { maxLength: 60 }), (gpus, ops) => {
          simulate(placer, gpus, ops, (fleet) => {
            for (const g of fleet) expect(layoutViolation(g)).toBeNull();
          });
        }),
        { numRuns: 300 },
      );
    },
  );

  // Not true for every single sequence, and this test says so: fast-check finds
  // e.g. [1g, 1g, 2g, 1g.2slot, 1g.2slot] on one GPU, where first-fit's packing
  // from slot 0 happens to suit the later requests (5 vs 4). No online placer
  // without knowledge of future requests can dominate first-fit on every
  // sequence; what holds is that it admits more in total and loses rarely.
  it('first-fit beats fragmentation-aware on some sequences (a greedy placer cannot dominate it everywhere)', () => {
    const ops: Op[] = (['1g', '1g', '2g', '1g.2slot', '1g.2slot'] as MigKind[]).map((kind) => ({
      op: 'alloc',
      kind,
    }));
    expect(simulate(firstFitPlacer, 1, ops).admitted).toBeGreaterThan(
      simulate(fragmentationAwarePlacer, 1, ops).admitted,
    );
  });

  it('fragmentation-aware admits more than first-fit in total over random request sequences, and rarely fewer', () => {
    let frag = 0;
    let first = 0;
    let worse = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.array(opArb, { maxLength: 40 }), (gpus, ops) => {
        const a = simulate(fragmentationAwarePlacer, gpus, ops).admitted;
        const b = simulate(firstFitPlacer, gpus, ops).admitted;
        frag += a;
        first += b;
        if (a < b) worse++;
        runs++;
      }),
      { numRuns: 1000, seed: 20261202 },
    );
    expect(frag).toBeGreaterThan(first);
    expect(worse / runs).toBeLessThan(0.05);
  });

  it('keeps a 3g placeable where first-fit fragments (the driver-default failure)', () => {
    // 1g, then 3g, then 3g on one GPU: first-fit puts the 1g at slot 0, so only one 3g fits.
    const ops: Op[] = [
      { op: 'alloc', kind: '1g' },
      { op: 'alloc', kind: '3g' },
      { op: 'alloc', kind: '3g' },
    ];
    expect(simulate(firstFitPlacer, 1, ops).admitted).toBe(2);
    expect(simulate(fragmentationAwarePlacer, 1, ops).admitted).toBe(2);
    // ...but with 4g after a 1g, slot choice matters: 1g at slot 6 leaves 0-3 for the 4g.
    const ops2: Op[] = [
      { op: 'alloc', kind: '1g' },
      { op: 'alloc', kind: '4g' },
      { op: 'alloc', kind: '2g' },
    ];
    expect(simulate(firstFitPlacer, 1, ops2).admitted).toBe(2);
    expect(simulate(fragmentationAwarePlacer, 1, ops2).admitted).toBe(3);
    expect(simulate(bestFitPlacer, 1, ops2).admitted).toBe(2);
  });
});
