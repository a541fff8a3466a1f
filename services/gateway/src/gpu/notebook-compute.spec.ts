import type { GpuOfferDto } from '@quire/contracts';
import { gpuRequestFromMetadata, sameGpuRequest } from './notebook-compute';

const offer: GpuOfferDto = {
  tenant: 'org-1',
  items: [
    {
      gpuType: 'h100-80gb',
      profile: 'full',
      label: 'H100 80GB',
      free: 0,
      queued: 2,
      runnable: true,
      note: null,
    },
    {
      gpuType: 'h100-80gb',
      profile: '1g.10gb',
      label: '1g.10gb slice of an H100',
      free: 3,
      queued: 0,
      runnable: false,
      note: 'no host can pass MIG slices yet',
    },
  ],
};

describe('the notebook compute choice as a kernel start’s gpu', () => {
  let offerCalls = 0;
  const offerFor = () => {
    offerCalls++;
    return Promise.resolve(offer);
  };
  beforeEach(() => (offerCalls = 0));
  const of = (compute: unknown) => gpuRequestFromMetadata({ 'quire.compute': compute }, offerFor);

  it('is CPU without a choice or with cpu, and asks the scheduler nothing then', async () => {
    await expect(gpuRequestFromMetadata({}, offerFor)).resolves.toBeNull();
    await expect(of({ kind: 'cpu' })).resolves.toBeNull();
    expect(offerCalls).toBe(0);
  });

  it('passes an offered GPU on with the fallback only when asked for', async () => {
    await expect(of({ kind: 'gpu', gpuType: 'h100-80gb', profile: 'full' })).resolves.toEqual({
      gpuType: 'h100-80gb',
      profile: 'full',
      allowCpuFallback: false,
    });
    await expect(
      of({ kind: 'gpu', gpuType: 'h100-80gb', profile: 'full', allowCpuFallback: true }),
    ).resolves.toMatchObject({ allowCpuFallback: true });
  });

  it('refuses what cannot be honoured with a stable code', async () => {
    await expect(of({ kind: 'gpu', gpuType: 'a100-40gb', profile: 'full' })).rejects.toMatchObject({
      code: 'gpu.unknown_type',
    });
    await expect(of({ kind: 'gpu', gpuType: 'h100-80gb', profile: '3g.40gb' })).rejects.toMatchObject({
      code: 'gpu.profile_not_offered',
    });
    await expect(of({ kind: 'gpu', gpuType: 'h100-80gb', profile: '1g.10gb' })).rejects.toMatchObject({
      code: 'gpu.not_runnable',
      message: expect.stringContaining('no host can pass MIG slices yet'),
    });
    await expect(of({ kind: 'gpu', gpuType: 'H100!', profile: 'full' })).rejects.toMatchObject({
      code: 'compute.invalid',
    });
    await expect(of('h100')).rejects.toMatchObject({ code: 'compute.invalid' });
  });

  it('compares requests by type and profile (null = CPU)', () => {
    expect(sameGpuRequest(null, undefined)).toBe(true);
    expect(sameGpuRequest(null, { gpuType: 'h100-80gb', profile: 'full' })).toBe(false);
    expect(
      sameGpuRequest({ gpuType: 'h100-80gb', profile: 'full' }, { gpuType: 'h100-80gb', profile: 'full' }),
    ).toBe(true);
    expect(
      sameGpuRequest({ gpuType: 'h100-80gb', profile: 'full' }, { gpuType: 'h100-80gb', profile: '1g.10gb' }),
    ).toBe(false);
  });
});
