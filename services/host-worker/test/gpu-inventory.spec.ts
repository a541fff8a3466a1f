import type { HostGpu } from '@quire/contracts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  GpuInventory,
  parseGpuUsageCsv,
  parseNvidiaSmiXml,
  readGpuUsage,
  type GpuDiscovery,
} from '../src/gpu';

class ScriptedDiscovery implements GpuDiscovery {
  calls = 0;
  constructor(private readonly answers: Array<HostGpu[] | Error>) {}
  discover(): Promise<HostGpu[]> {
    const answer = this.answers[Math.min(this.calls++, this.answers.length - 1)] ?? [];
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }
}

describe('GPU inventory for heartbeats', () => {
  it('discovers at start, keeps the last good answer when a refresh fails, and takes the next one', async () => {
    const xml = await readFile(join(__dirname, 'fixtures', 'nvidia-smi', 'h100-80gb-whole.xml'), 'utf8');
    const h100 = parseNvidiaSmiXml(xml, { available: false, reason: 'test' });
    const discovery = new ScriptedDiscovery([h100, new Error('nvidia-smi hung'), []]);
    const errors: string[] = [];
    const inventory = new GpuInventory(discovery, 60_000, (error) => errors.push(error.message));
    await inventory.start();
    inventory.stop();
    expect(inventory.current()).toEqual(h100);
    await inventory.refresh();
    expect(inventory.current()).toEqual(h100);
    expect(errors).toEqual(['nvidia-smi hung']);
    await inventory.refresh();
    expect(inventory.current()).toEqual([]);
    expect(discovery.calls).toBe(3);
  });
});

describe('GPU usage for ResourceSamples', () => {
  it('reads nvidia-smi --query-gpu CSV, leaving out rows it cannot read', () => {
    const usage = parseGpuUsageCsv('GPU-aaa, 37, 1024, 81559\nGPU-mig, [N/A], [N/A], 40960\nnot a row\n');
    expect([...usage.keys()]).toEqual(['GPU-aaa']);
    expect(usage.get('GPU-aaa')).toEqual({
      utilizationPct: 37,
      memoryUsedBytes: 1024 * 1024 ** 2,
      memoryTotalBytes: 81559 * 1024 ** 2,
    });
  });

  it('is empty without nvidia-smi', async () => {
    await expect(readGpuUsage('/nonexistent/nvidia-smi')).resolves.toEqual(new Map());
  });
});
