import { gpuMemoryGaugeView, memoryGaugeView, memoryLevel } from '../src/kernel/memory-gauge';
import { formatBytes } from '../src/ui/format-bytes';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe('memory gauge formatting', () => {
  it('writes sizes the way the limits are sold: binary units, no ".0"', () => {
    expect(formatBytes(8 * GiB)).toBe('8 GiB');
    expect(formatBytes(1.2 * GiB)).toBe('1.2 GiB');
    expect(formatBytes(16 * GiB)).toBe('16 GiB');
    expect(formatBytes(12.4 * GiB)).toBe('12 GiB');
    expect(formatBytes(512 * MiB)).toBe('512 MiB');
    expect(formatBytes(1.5 * MiB)).toBe('1.5 MiB');
    expect(formatBytes(900 * 1024)).toBe('900 KiB');
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(-5)).toBe('0 B');
  });

  it('labels used / limit compactly and says it in words for screen readers', () => {
    const v = memoryGaugeView({ usedBytes: 1.2 * GiB, limitBytes: 8 * GiB })!;
    expect(v.label).toBe('1.2 GiB / 8 GiB');
    expect(v.percent).toBe(15);
    expect(v.spoken).toBe('1.2 GiB of 8 GiB (15 %)');
    expect(v.level).toBe('ok');
  });

  it('turns amber above 80 % and red above 95 %', () => {
    expect(memoryLevel(0.8)).toBe('ok');
    expect(memoryLevel(0.801)).toBe('warn');
    expect(memoryLevel(0.95)).toBe('warn');
    expect(memoryLevel(0.951)).toBe('critical');
    expect(memoryGaugeView({ usedBytes: 6.6 * GiB, limitBytes: 8 * GiB })!.level).toBe('warn');
    expect(memoryGaugeView({ usedBytes: 7.8 * GiB, limitBytes: 8 * GiB })).toMatchObject({
      level: 'critical',
      label: '7.8 GiB / 8 GiB',
      percent: 98,
    });
  });

  it('clamps a reading over the limit and shows no gauge without a usable reading', () => {
    expect(memoryGaugeView({ usedBytes: 9 * GiB, limitBytes: 8 * GiB })).toMatchObject({
      fraction: 1,
      percent: 100,
      level: 'critical',
      label: '9 GiB / 8 GiB',
    });
    expect(memoryGaugeView(null)).toBeNull();
    expect(memoryGaugeView({ usedBytes: 1, limitBytes: 0 })).toBeNull();
    expect(memoryGaugeView({ usedBytes: Number.NaN, limitBytes: GiB })).toBeNull();
  });
});

describe('GPU memory gauge', () => {
  it('labels the device memory and says its utilisation in words', () => {
    const v = gpuMemoryGaugeView({ usedBytes: 12 * GiB, totalBytes: 80 * GiB, utilizationPct: 41.6 })!;
    expect(v.label).toBe('GPU 12 GiB / 80 GiB');
    expect(v.spoken).toBe('12 GiB of 80 GiB (15 %), GPU 42 % busy');
    expect(v.level).toBe('ok');
    expect(v.limitBytes).toBe(80 * GiB);
  });

  it('warns like the RAM gauge as a CUDA out-of-memory nears', () => {
    expect(
      gpuMemoryGaugeView({ usedBytes: 70 * GiB, totalBytes: 80 * GiB, utilizationPct: 100 })!.level,
    ).toBe('warn');
    expect(
      gpuMemoryGaugeView({ usedBytes: 79 * GiB, totalBytes: 80 * GiB, utilizationPct: 100 })!.level,
    ).toBe('critical');
  });

  it('shows nothing without a reading (CPU kernel, not running, host without NVML)', () => {
    expect(gpuMemoryGaugeView(null)).toBeNull();
    expect(gpuMemoryGaugeView(undefined)).toBeNull();
    expect(gpuMemoryGaugeView({ usedBytes: 1, totalBytes: 0, utilizationPct: 0 })).toBeNull();
  });
});
