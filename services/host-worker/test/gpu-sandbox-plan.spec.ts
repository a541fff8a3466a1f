import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostGpu } from '@quire/contracts';
import { buildOciSpec, DEFAULT_LIMITS, Runsc } from '@quire/sandbox-gvisor';
import {
  parseLdconfigDriverLibraries,
  parseNvidiaSmiXml,
  parseSupportedDrivers,
  planGpuSandbox,
  type DeviceNodeReader,
} from '../src/gpu';

const fixtures = join(__dirname, 'fixtures', 'nvidia-smi');

async function hostGpus(name: string): Promise<HostGpu[]> {
  const drivers = parseSupportedDrivers(
    await readFile(join(fixtures, 'runsc-supported-drivers.txt'), 'utf8'),
  );
  return parseNvidiaSmiXml(await readFile(join(fixtures, name), 'utf8'), {
    available: true,
    supportedDrivers: drivers,
  });
}

/** Device numbers as on a typical host: nvidia-uvm gets a dynamic major. */
const hostNodes: Record<string, { major: number; minor: number }> = {
  '/dev/nvidiactl': { major: 195, minor: 255 },
  '/dev/nvidia-uvm': { major: 508, minor: 0 },
  '/dev/nvidia-uvm-tools': { major: 508, minor: 1 },
  '/dev/nvidia0': { major: 195, minor: 0 },
  '/dev/nvidia1': { major: 195, minor: 1 },
  '/dev/nvidia3': { major: 195, minor: 3 },
};
const readNode: DeviceNodeReader = (path) => hostNodes[path];

const H100 = 'GPU-4f1e7b1a-2c3d-8e9f-0a1b-2c3d4e5f6a7b';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('starting a sandbox with a GPU', () => {
  it('exposes only the allocated GPU, its control devices and the driver libraries, with --nvproxy', async () => {
    const plan = planGpuSandbox(
      { device: H100, visibleDevice: '0' },
      await hostGpus('h100-80gb-whole.xml'),
      ['/usr/lib/x86_64-linux-gnu/libcuda.so.1'],
      readNode,
    );
    expect(plan.runscFlags).toEqual(['--nvproxy']);
    expect(plan.devices.map((device) => device.path)).toEqual([
      '/dev/nvidiactl',
      '/dev/nvidia-uvm',
      '/dev/nvidia-uvm-tools',
      '/dev/nvidia0',
    ]);
    expect(plan.env.NVIDIA_VISIBLE_DEVICES).toBe('0');

    const spec = buildOciSpec({
      args: ['python'],
      limits: DEFAULT_LIMITS,
      devices: plan.devices,
      readOnlyMounts: plan.readOnlyMounts,
      env: plan.env,
    });
    const linux = spec.linux as {
      devices: { path: string; major: number; minor: number }[];
      resources: { devices: unknown[] };
    };
    expect(linux.devices).toContainEqual(
      expect.objectContaining({ path: '/dev/nvidia-uvm', major: 508, minor: 0 }),
    );
    expect(linux.devices.some((device) => device.path === '/dev/nvidia1')).toBe(false);
    expect(linux.resources.devices[0]).toEqual({ allow: false, access: 'rwm' });
    expect(linux.resources.devices).toContainEqual({
      allow: true,
      type: 'c',
      major: 195,
      minor: 0,
      access: 'rw',
    });
    expect(spec.mounts).toContainEqual(
      expect.objectContaining({
        source: '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
        options: expect.arrayContaining(['ro']),
      }),
    );
    expect(spec.process.env).toContain('NVIDIA_VISIBLE_DEVICES=0');
  });

  it('adds nothing GPU-related to a sandbox without a GPU', () => {
    const spec = buildOciSpec({ args: ['python'], limits: DEFAULT_LIMITS });
    expect(spec.linux.devices).toBeUndefined();
    expect((spec.linux.resources as Record<string, unknown>).devices).toBeUndefined();
  });

  it('refuses a GPU that is not on this host, or whose device node is missing', async () => {
    const gpus = await hostGpus('h100-80gb-whole.xml');
    expect(
      codeOf(() => planGpuSandbox({ device: 'GPU-other', visibleDevice: '0' }, gpus, [], readNode)),
    ).toBe('gpu.not_present');
    expect(codeOf(() => planGpuSandbox({ device: H100, visibleDevice: '0' }, [], [], readNode))).toBe(
      'gpu.not_present',
    );
    expect(
      codeOf(() => planGpuSandbox({ device: H100, visibleDevice: '0' }, gpus, [], () => undefined)),
    ).toBe('gpu.not_present');
  });

  it('refuses MIG devices and GPUs in MIG mode', async () => {
    const gpus = await hostGpus('a100-40gb-mig-mixed.xml');
    expect(
      codeOf(() =>
        planGpuSandbox(
          { device: 'MIG-a3c0f1d2-6b7e-5f80-9a1b-c2d3e4f5a6b7', visibleDevice: 'MIG-a3c0' },
          gpus,
          [],
          readNode,
        ),
      ),
    ).toBe('gpu.mig_not_passable');
    expect(
      codeOf(() =>
        planGpuSandbox(
          { device: 'GPU-9d2c4b6a-1e3f-5a7b-8c9d-0e1f2a3b4c5d', visibleDevice: '3' },
          gpus,
          [],
          readNode,
        ),
      ),
    ).toBe('gpu.mig_not_passable');
  });

  it('refuses a GPU on a driver nvproxy does not support', async () => {
    const [t4] = await hostGpus('t4-unsupported-driver.xml');
    expect(codeOf(() => planGpuSandbox({ device: t4!.uuid, visibleDevice: '0' }, [t4!], [], readNode))).toBe(
      'gpu.driver_unsupported',
    );
  });

  it('puts --nvproxy among runsc’s global flags, before `run`', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quire-runsc-args-'));
    const fakeRunsc = join(dir, 'runsc');
    const argsFile = join(dir, 'args');
    // Answers the driver's probe (--version, flags) like Debian's runsc, records everything else.
    await writeFile(
      fakeRunsc,
      `#!/bin/sh\n[ "$1" = --version ] && { echo 'runsc version fake'; exit 0; }\n[ "$1" = flags ] && exit 0\nprintf '%s\\n' "$@" > '${argsFile}'\n`,
    );
    await chmod(fakeRunsc, 0o755);
    const runsc = new Runsc({ runscPath: fakeRunsc, rootDir: join(dir, 'root') });
    const devNull = openSync('/dev/null', 'r+');
    try {
      const child = runsc.runDetached('k-1', join(dir, 'bundle'), [devNull, devNull, devNull], ['--nvproxy']);
      await once(child, 'exit');
    } finally {
      closeSync(devNull);
    }
    const args = (await readFile(argsFile, 'utf8')).trim().split('\n');
    expect(args.indexOf('--nvproxy')).toBeGreaterThan(-1);
    expect(args.indexOf('--nvproxy')).toBeLessThan(args.indexOf('run'));
    // A runsc whose flags name no systrap (Debian's) runs on ptrace.
    expect(args.indexOf('--platform=ptrace')).toBeLessThan(args.indexOf('run'));
    expect(args.slice(-3)).toEqual(['--bundle', join(dir, 'bundle'), 'k-1']);
    await rm(dir, { recursive: true, force: true });
  });

  it('finds the 64-bit driver libraries in ldconfig -p output', () => {
    const output = [
      "1234 libs found in cache `/etc/ld.so.cache'",
      '\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1',
      '\tlibcuda.so.1 (libc6) => /usr/lib/i386-linux-gnu/libcuda.so.1',
      '\tlibnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1',
      '\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12',
    ].join('\n');
    expect(parseLdconfigDriverLibraries(output)).toEqual([
      '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
      '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1',
    ]);
  });
});
