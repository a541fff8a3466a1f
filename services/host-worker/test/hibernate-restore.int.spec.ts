import { cpSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { GvisorKernelSandbox } from '../src/sandbox/gvisor-kernel-sandbox';
import { kernelEnvDir, makeHost, SHIM_DIR, startKernel } from './gvisor-kernel-fixture';

jest.setTimeout(300_000);

const GiB = 1024 ** 3;
const resultOf = async (sandbox: GvisorKernelSandbox, code: string) => {
  const { outputs, reply } = await sandbox.client.execute(code);
  if (reply.status !== 'ok') throw new Error(`${code}: ${reply.ename}: ${reply.evalue}`);
  const data = outputs.find((o) => o.header.msg_type === 'execute_result')?.content.data as
    Record<string, string> | undefined;
  return data?.['text/plain'];
};

describe('hibernate (runsc checkpoint) and restore of a kernel holding 500 MB', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup) await c().catch(() => undefined);
  });

  it('frees the sandbox, restores on this host and on a second host, with every variable intact', async () => {
    const home = mkdtempSync('/tmp/quire-home-');
    const hostA = makeHost('a');
    const { sandbox } = await startKernel({
      host: hostA,
      limits: { memoryBytes: 2 * GiB },
      homeVolumeDir: home,
    });
    cleanup.push(() => sandbox.terminate());
    await resultOf(
      sandbox,
      'import numpy as np\narr = np.random.default_rng(7).integers(0, 2**62, size=500 * 1024 * 1024 // 8, dtype=np.int64)\nd = {"name": "quire", "n": 42, "nested": {"k": [1, 2, 3]}}',
    );
    const expectedSum = await resultOf(sandbox, 'int(arr.sum())');
    const expectedDict = await resultOf(sandbox, 'd');
    expect(Number(sandbox.resources()?.memoryBytes)).toBeGreaterThan(500 * 1024 * 1024);

    // Hibernate: the sandbox is gone from the host afterwards.
    const imageA = join(hostA.workDir, 'image-1');
    const ckpt = await sandbox.checkpoint(imageA);
    expect(await hostA.runsc.list()).toEqual([]);
    expect(sandbox.state).toBe('hibernated');

    // Restore on the same host.
    const restoreA = await sandbox.restore(imageA);
    expect(await resultOf(sandbox, 'int(arr.sum())')).toBe(expectedSum);
    expect(await resultOf(sandbox, 'd')).toBe(expectedDict);

    // Hibernate again and restore on a second host worker (own runsc state, own bundle).
    const imageA2 = join(hostA.workDir, 'image-2');
    const ckpt2 = await sandbox.checkpoint(imageA2);
    const hostB = makeHost('b');
    const imageB = join(hostB.workDir, 'image-from-a');
    cpSync(imageA2, imageB, { recursive: true }); // what the S3 round trip does between hosts
    const onB = new GvisorKernelSandbox({
      sandboxId: sandbox.id,
      runsc: hostB.runsc,
      bundleDir: join(hostB.workDir, 'bundles', sandbox.id),
      kernelEnvDir: kernelEnvDir(),
      shimDir: SHIM_DIR,
      limits: sandbox.opts.limits,
      homeVolumeDir: home,
      key: sandbox.key,
    });
    cleanup.push(() => onB.terminate());
    const restoreB = await onB.restore(imageB);
    expect(await resultOf(onB, 'int(arr.sum())')).toBe(expectedSum);
    expect(await resultOf(onB, 'd')).toBe(expectedDict);
    expect(await resultOf(onB, 'arr.nbytes')).toBe(String(500 * 1024 * 1024));
    await onB.terminate();

    const figures = {
      checkpointBytes: ckpt.bytes,
      checkpointMs: ckpt.ms,
      restoreSameHostMs: restoreA.ms,
      checkpoint2Ms: ckpt2.ms,
      restoreOtherHostMs: restoreB.ms,
    };
    console.log(`hibernate 500 MB kernel: ${JSON.stringify(figures)}`);
    // Random data does not compress: the 500 MB really are in the image.
    expect(ckpt.bytes).toBeGreaterThan(450 * 1024 * 1024);
  });
});
