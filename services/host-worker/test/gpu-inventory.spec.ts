import type { HostGpu } from '@quire/contracts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GpuInventory, parseNvidiaSmiXml, type GpuDiscovery } from '../src/gpu';

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
