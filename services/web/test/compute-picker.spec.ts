import type { GpuOfferDto } from '@quire/contracts';
import * as Y from 'yjs';
import {
  computeFromValue,
  computeOf,
  computeOptions,
  computeValue,
  optionText,
} from '../src/compute/compute-options';
import { readCompute, writeCompute } from '../src/compute/notebook-compute';
import { etaText, gpuRequestName, withArticle } from '../src/compute/gpu-names';
import { gpuWaitText } from '../src/compute/gpu-wait-text';

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
      free: 5,
      queued: 0,
      runnable: false,
      note: 'MIG slices need a runtime that passes them through',
    },
  ],
};

describe('GPU wait line', () => {
  it('says what it waits for, its position and the ETA in minutes', () => {
    expect(
      gpuWaitText({ gpuType: 'h100-80gb', profile: 'full', phase: 'queued', position: 2, etaS: 230 }),
    ).toEqual({ text: 'Waiting for an H100 — position 2, about 4 min', tone: 'wait' });
    expect(
      gpuWaitText({ gpuType: 'h100-80gb', profile: '1g.10gb', phase: 'queued', position: 1, etaS: null })!
        .text,
    ).toBe('Waiting for a 1g.10gb slice of an H100 — position 1');
    expect(
      gpuWaitText({ gpuType: 't4-16gb', profile: 'full', phase: 'queued', position: null, etaS: 30 })!.text,
    ).toBe('Waiting for a T4 — less than a minute');
  });

  it('is silent for CPU kernels and allocated GPUs; says why when refused', () => {
    expect(gpuWaitText(null)).toBeNull();
    expect(gpuWaitText(undefined)).toBeNull();
    expect(
      gpuWaitText({ gpuType: 'a100-40gb', profile: 'full', phase: 'allocated', position: null, etaS: null }),
    ).toBeNull();
    expect(
      gpuWaitText({
        gpuType: 'a100-40gb',
        profile: 'full',
        phase: 'rejected',
        position: null,
        etaS: null,
        reason: 'your organisation’s GPU quota is used up',
      }),
    ).toEqual({ text: 'No GPU: your organisation’s GPU quota is used up', tone: 'error' });
  });

  it('passes on what the lifecycle says (GPU memory not kept) and offers a restart when the choice changed', () => {
    const notice =
      'The kernel was restored from hibernation, but GPU memory was not kept (this host cannot checkpoint GPU memory).';
    expect(
      gpuWaitText({
        gpuType: 'h100-80gb',
        profile: 'full',
        phase: 'allocated',
        position: null,
        etaS: null,
        notice,
      }),
    ).toEqual({ text: notice, tone: 'info' });
    const change =
      "The notebook's compute is now a whole h100-80gb, but this kernel started on CPU: restart the kernel to switch (its variables are lost).";
    expect(
      gpuWaitText({
        gpuType: 'h100-80gb',
        profile: 'full',
        phase: 'none',
        position: null,
        etaS: null,
        notice: change,
        restartToApply: true,
      }),
    ).toEqual({ text: change, tone: 'info', restart: true });
    expect(
      gpuWaitText({ gpuType: 'h100-80gb', profile: 'full', phase: 'released', position: null, etaS: null }),
    ).toBeNull();
  });

  it('reads names aloud correctly', () => {
    expect(['H100', 'A100', 'L4', 'T4', 'RTX'].map(withArticle)).toEqual([
      'an H100',
      'an A100',
      'an L4',
      'a T4',
      'an RTX',
    ]);
    expect(gpuRequestName('h200-141gb', '3g.71gb')).toBe('a 3g.71gb slice of an H200');
    expect([59, 60, 61, 3600, 4200].map(etaText)).toEqual([
      'less than a minute',
      'about 1 min',
      'about 2 min',
      'about 1 h',
      'about 1 h 10 min',
    ]);
  });
});

describe('compute picker options', () => {
  it('offers CPU then the org’s GPUs with free/queued, and says why one cannot run', () => {
    const options = computeOptions(offer, null);
    expect(options.map(optionText)).toEqual([
      'CPU',
      'H100 80GB — 0 free · 2 queued',
      '1g.10gb slice of an H100 — 5 free · 0 queued — not runnable: MIG slices need a runtime that passes them through',
    ]);
    expect(options[1]!.note).toMatch(/waits in the queue/);
    expect(options.map((o) => o.runnable)).toEqual([true, true, false]);
  });

  it('keeps a saved choice the offer no longer lists visible instead of silently switching', () => {
    const saved = { kind: 'gpu' as const, gpuType: 'a100-40gb', profile: 'full', allowCpuFallback: false };
    const options = computeOptions(offer, saved);
    expect(options.at(-1)).toMatchObject({ value: 'gpu:a100-40gb:full', runnable: false });
    expect(computeOptions(null, null).map((o) => o.value)).toEqual(['cpu']);
  });

  it('round-trips values and reads metadata defensively', () => {
    expect(computeFromValue(computeValue({ kind: 'gpu', gpuType: 'h100-80gb', profile: '1g.10gb' }))).toEqual(
      {
        kind: 'gpu',
        gpuType: 'h100-80gb',
        profile: '1g.10gb',
        allowCpuFallback: false,
      },
    );
    expect(computeFromValue('cpu')).toEqual({ kind: 'cpu' });
    expect(computeFromValue('nonsense')).toEqual({ kind: 'cpu' });
    expect(computeOf({ 'quire.compute': { kind: 'gpu', gpuType: 5 } })).toBeNull();
    expect(computeOf(null)).toBeNull();
  });

  it('stores the choice in the shared notebook metadata, keeping what else is there', () => {
    const a = new Y.Doc();
    a.getMap('meta').set('metadata', { kernelspec: { name: 'python3' } });
    writeCompute(a, { kind: 'gpu', gpuType: 'h100-80gb', profile: 'full', allowCpuFallback: false });
    const b = new Y.Doc();
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a));
    expect(readCompute(b)).toEqual({
      kind: 'gpu',
      gpuType: 'h100-80gb',
      profile: 'full',
      allowCpuFallback: false,
    });
    expect((b.getMap('meta').get('metadata') as Record<string, unknown>).kernelspec).toEqual({
      name: 'python3',
    });
  });
});
