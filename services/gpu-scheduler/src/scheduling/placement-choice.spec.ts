import { layoutViolation } from '../placement/gpu-layout';
import { migKindOf } from '../placement/mig-profiles';
import { choosePlacement, runnableOn, type HeldPart, type InventoryGpu } from './placement-choice';

const whole = (uuid: string, over: Partial<InventoryGpu> = {}): InventoryGpu => ({
  uuid,
  hostId: 'h1',
  index: Number(uuid.slice(-1)),
  gpuType: 'h100-80gb',
  migMode: 'disabled',
  migInstances: [],
  sandbox: { wholeGpu: true, migSlices: false },
  cudaCheckpoint: false,
  usable: true,
  ...over,
});
const mig = (uuid: string, instances: InventoryGpu['migInstances'] = []): InventoryGpu =>
  whole(uuid, { migMode: 'enabled', migInstances: instances, sandbox: { wholeGpu: false, migSlices: true } });

describe('choosePlacement', () => {
  it('gives a whole GPU nobody holds, by its index, and nothing when all are held', () => {
    const pool = [whole('GPU-0'), whole('GPU-1')];
    const a = choosePlacement(pool, [], { requestId: 'r1', gpuType: 'h100-80gb', profile: 'full' });
    expect(a).toMatchObject({ how: 'whole-gpu', start: 0, size: 8 });
    const held: HeldPart[] = [{ requestId: 'r1', device: a!.gpu.uuid, start: 0, size: 8, slice: null }];
    const b = choosePlacement(pool, held, { requestId: 'r2', gpuType: 'h100-80gb', profile: 'full' });
    expect(b!.gpu.uuid).not.toBe(a!.gpu.uuid);
    held.push({ requestId: 'r2', device: b!.gpu.uuid, start: 0, size: 8, slice: null });
    expect(
      choosePlacement(pool, held, { requestId: 'r3', gpuType: 'h100-80gb', profile: 'full' }),
    ).toBeNull();
  });

  it('never uses a GPU that is not usable, of another type, or in MIG mode for a whole-GPU request', () => {
    const pool = [whole('GPU-0', { usable: false }), whole('GPU-1', { gpuType: 'a100-40gb' }), mig('GPU-2')];
    expect(choosePlacement(pool, [], { requestId: 'r', gpuType: 'h100-80gb', profile: 'full' })).toBeNull();
  });

  it('prefers an existing instance of the profile, then a new one beside the others, then a re-layout of an idle GPU', () => {
    const g = mig('GPU-0', [
      { profile: '3g.40gb', start: 4, size: 4, uuid: 'MIG-a' },
      { profile: '1g.10gb', start: 0, size: 1, uuid: 'MIG-b' },
    ]);
    const req = (profile: string, id = 'r') => ({ requestId: id, gpuType: 'h100-80gb', profile });
    expect(choosePlacement([g], [], req('1g.10gb'))).toMatchObject({
      how: 'existing-instance',
      visibleDevice: 'MIG-b',
      start: 0,
    });
    const c = choosePlacement([g], [], req('2g.20gb'));
    expect(c).toMatchObject({ how: 'new-instance', size: 2 });
    expect(c!.start).toBe(2); // 0 is covered by the 1g instance, 4..7 by the 3g
    // 7g does not fit beside instances: only a re-layout of the idle GPU.
    expect(choosePlacement([g], [], req('7g.80gb'))).toMatchObject({ how: 'relayout', start: 0, size: 8 });
    // Once something is held there, never a re-layout.
    const held: HeldPart[] = [{ requestId: 'x', device: 'GPU-0', start: 0, size: 1, slice: '1g.10gb' }];
    expect(choosePlacement([g], held, req('7g.80gb'))).toBeNull();
  });

  it('fills a MIG GPU with 1g slices without ever producing an invalid layout', () => {
    const g = mig('GPU-0');
    const held: HeldPart[] = [];
    for (let i = 0; i < 10; i++) {
      const c = choosePlacement([g], held, { requestId: `r${i}`, gpuType: 'h100-80gb', profile: '1g.10gb' });
      if (!c) break;
      held.push({ requestId: `r${i}`, device: c.gpu.uuid, start: c.start, size: c.size, slice: c.slice });
    }
    expect(held).toHaveLength(7); // NVIDIA's limit: 7 × 1g
    expect(
      layoutViolation({
        uuid: 'GPU-0',
        gpuType: 'h100-80gb',
        mig: true,
        parts: held.map((h) => ({
          allocationId: h.requestId,
          kind: migKindOf('h100-80gb', h.slice!),
          start: h.start,
          size: h.size,
        })),
      }),
    ).toBeNull();
  });

  it('hands MIG slices only where the host runtime says it can', () => {
    const g = mig('GPU-0');
    expect(runnableOn(g, '1g.10gb')).toBe(true);
    const gvisor = {
      ...g,
      sandbox: { wholeGpu: true, migSlices: false, reason: 'nvproxy has no /dev/nvidia-caps' },
    };
    expect(runnableOn(gvisor, '1g.10gb')).toBe(false);
    expect(
      choosePlacement([gvisor], [], { requestId: 'r', gpuType: 'h100-80gb', profile: '1g.10gb' }),
    ).toBeNull();
  });
});
