import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostGpu } from '@quire/contracts';
import {
  GpuDiscoveryError,
  MIG_NOT_PASSABLE_REASON,
  NvidiaSmiGpuDiscovery,
  gpuDiscoveryFromSetting,
  gpuTypeForProductName,
  parseNvidiaSmiXml,
  parseSupportedDrivers,
  probeNvproxySupport,
  RecordedFileGpuDiscovery,
  type NvproxySupport,
} from '../src/gpu';

function onlyGpu(gpus: HostGpu[]): HostGpu {
  expect(gpus).toHaveLength(1);
  return gpus[0] as HostGpu;
}

const fixtures = join(__dirname, 'fixtures', 'nvidia-smi');
const fixture = (name: string) => readFile(join(fixtures, name), 'utf8');

async function recordedSupport(): Promise<NvproxySupport> {
  return {
    available: true,
    supportedDrivers: parseSupportedDrivers(await fixture('runsc-supported-drivers.txt')),
  };
}

describe('nvidia-smi -q -x discovery', () => {
  it('reads a whole H100 80GB that nvproxy can pass', async () => {
    const gpus = parseNvidiaSmiXml(await fixture('h100-80gb-whole.xml'), await recordedSupport());
    expect(gpus).toEqual([
      {
        uuid: 'GPU-4f1e7b1a-2c3d-8e9f-0a1b-2c3d4e5f6a7b',
        index: 0,
        model: 'NVIDIA H100 80GB HBM3',
        gpuType: 'h100-80gb',
        memoryBytes: 81559 * 1024 ** 2,
        driverVersion: '550.90.07',
        cudaVersion: '12.4',
        migMode: 'disabled',
        migInstances: [],
        sandbox: { wholeGpu: true, migSlices: false, reason: MIG_NOT_PASSABLE_REASON },
        cudaCheckpoint: false,
      },
    ]);
    for (const gpu of gpus) expect(HostGpu.parse(gpu)).toEqual(gpu);
  });

  it('reads an A100 40GB in MIG mode with mixed instances, leaving out one without profile/placement', async () => {
    const gpu = onlyGpu(parseNvidiaSmiXml(await fixture('a100-40gb-mig-mixed.xml'), await recordedSupport()));
    expect(gpu.gpuType).toBe('a100-40gb');
    expect(gpu.index).toBe(3);
    expect(gpu.migMode).toBe('enabled');
    expect(gpu.memoryBytes).toBe(40960 * 1024 ** 2);
    expect(gpu.migInstances).toEqual([
      { profile: '3g.20gb', start: 4, size: 4, uuid: 'MIG-a3c0f1d2-6b7e-5f80-9a1b-c2d3e4f5a6b7' },
      { profile: '2g.10gb', start: 0, size: 2, uuid: 'MIG-b4d1a2e3-7c8f-5091-ab2c-d3e4f5a6b7c8' },
      { profile: '1g.5gb', start: 2, size: 1, uuid: 'MIG-c5e2b3f4-8d90-51a2-bc3d-e4f5a6b7c8d9' },
    ]);
    expect(gpu.sandbox.migSlices).toBe(false);
    expect(gpu.sandbox.reason).toContain('/dev/nvidia-caps');
    expect(HostGpu.parse(gpu)).toEqual(gpu);
  });

  it('marks a GPU on a driver nvproxy does not support as not passable, saying why', async () => {
    const gpu = onlyGpu(
      parseNvidiaSmiXml(await fixture('t4-unsupported-driver.xml'), await recordedSupport()),
    );
    expect(gpu.gpuType).toBe('t4-16gb');
    expect(gpu.migMode).toBe('unsupported');
    expect(gpu.sandbox.wholeGpu).toBe(false);
    expect(gpu.sandbox.reason).toMatch(/driver 470\.57\.02 is not supported/);
  });

  it('carries runsc’s failure reason when nvproxy is unavailable', async () => {
    const support = await probeNvproxySupport('/nonexistent/runsc');
    expect(support.available).toBe(false);
    const gpu = onlyGpu(parseNvidiaSmiXml(await fixture('h100-80gb-whole.xml'), support));
    expect(gpu.sandbox).toEqual({
      wholeGpu: false,
      migSlices: false,
      reason: expect.stringContaining('/nonexistent/runsc nvproxy list-supported-drivers failed'),
    });
  });

  it('rejects output that is not nvidia-smi XML, and GPUs without memory totals', async () => {
    const support = await recordedSupport();
    expect(() => parseNvidiaSmiXml('<html></html>', support)).toThrow(GpuDiscoveryError);
    const broken = (await fixture('h100-80gb-whole.xml')).replace(
      '<total>81559 MiB</total>',
      '<total>lots</total>',
    );
    expect(() => parseNvidiaSmiXml(broken, support)).toThrow(/fb_memory_usage total/);
  });

  it('maps product names to Quire GPU types, slugging unknown ones', () => {
    expect(gpuTypeForProductName('NVIDIA A100 80GB PCIe')).toBe('a100-80gb');
    expect(gpuTypeForProductName('NVIDIA A100-SXM4-80GB')).toBe('a100-80gb');
    expect(gpuTypeForProductName('NVIDIA H200')).toBe('h200-141gb');
    expect(gpuTypeForProductName('NVIDIA L4')).toBe('l4-24gb');
    expect(gpuTypeForProductName('NVIDIA A10G')).toBe('a10g-24gb');
    expect(gpuTypeForProductName('NVIDIA RTX A6000')).toBe('rtx-a6000');
  });

  it('parses runsc nvproxy list-supported-drivers, ignoring noise', () => {
    expect([...parseSupportedDrivers('535.183.01\nwarning: foo\n 550.90.07 \n\n')]).toEqual([
      '535.183.01',
      '550.90.07',
    ]);
  });

  it('has no GPUs when nvidia-smi is not installed', async () => {
    const discovery = new NvidiaSmiGpuDiscovery(recordedSupport, '/nonexistent/nvidia-smi');
    await expect(discovery.discover()).resolves.toEqual([]);
  });

  it('runs a real nvidia-smi executable and a real runsc probe', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quire-gpu-'));
    const fakeSmi = join(dir, 'nvidia-smi');
    const fakeRunsc = join(dir, 'runsc');
    await writeFile(
      fakeSmi,
      `#!/bin/sh\n[ "$1 $2" = "-q -x" ] || exit 2\ncat '${join(fixtures, 'h100-80gb-whole.xml')}'\n`,
    );
    await writeFile(
      fakeRunsc,
      `#!/bin/sh\n[ "$1 $2" = "nvproxy list-supported-drivers" ] || exit 2\necho 550.90.07\n`,
    );
    await chmod(fakeSmi, 0o755);
    await chmod(fakeRunsc, 0o755);
    const gpus = await new NvidiaSmiGpuDiscovery(() => probeNvproxySupport(fakeRunsc), fakeSmi).discover();
    expect(gpus.map((gpu) => [gpu.gpuType, gpu.sandbox.wholeGpu])).toEqual([['h100-80gb', true]]);
    await rm(dir, { recursive: true, force: true });
  });

  it('selects discovery from QUIRE_GPU_DISCOVERY', async () => {
    await expect(gpuDiscoveryFromSetting('none', '/usr/bin/runsc').discover()).resolves.toEqual([]);
    const recorded = gpuDiscoveryFromSetting(
      `file:${join(fixtures, 'a100-40gb-mig-mixed.xml')}`,
      '/nonexistent/runsc',
    );
    expect(recorded).toBeInstanceOf(RecordedFileGpuDiscovery);
    const gpu = onlyGpu(await recorded.discover());
    expect(gpu.sandbox.wholeGpu).toBe(false);
    expect(() => gpuDiscoveryFromSetting('nvml', '/usr/bin/runsc')).toThrow(/QUIRE_GPU_DISCOVERY must be/);
  });
});
