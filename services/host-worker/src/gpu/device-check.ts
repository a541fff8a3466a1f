/**
 * The GPU half of load-tests/gpu/device-check.sh (run through it; not part of the service): discovery,
 * then a gVisor sandbox with nvproxy built exactly as the host worker builds
 * it for a GPU kernel, and a CuPy matrix multiply inside it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, Runsc } from '@quire/sandbox-gvisor';
import { GvisorKernelSandbox } from '../sandbox/gvisor-kernel-sandbox';
import { findDriverLibraries } from './driver-libraries';
import { planGpuSandbox } from './gpu-sandbox-plan';
import { NvidiaSmiGpuDiscovery } from './nvidia-smi-discovery';
import { probeNvproxySupport } from './nvproxy-support';

const MATMUL = [
  'import cupy as cp, time',
  'a = cp.random.rand(4096, 4096, dtype=cp.float32); b = cp.random.rand(4096, 4096, dtype=cp.float32)',
  'c = a @ b; cp.cuda.Device().synchronize()',
  't0 = time.perf_counter(); c = a @ b; cp.cuda.Device().synchronize(); ms = (time.perf_counter() - t0) * 1000',
  'ok = bool(cp.allclose(c[:8, :8], (a[:8] @ b[:, :8]), rtol=1e-3))',
  'print(f"matmul 4096x4096 fp32: {ms:.1f} ms ({2 * 4096**3 / ms / 1e9:.0f} GFLOP/s), correct={ok}, device={cp.cuda.runtime.getDeviceProperties(0)[\'name\'].decode()}")',
].join('\n');

async function main(): Promise<void> {
  const runscPath = process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc';
  const kernelEnvDir = process.env.QUIRE_KERNEL_ENV;
  if (!kernelEnvDir) throw new Error('QUIRE_KERNEL_ENV is not set (run device-check.sh)');
  const gpus = await new NvidiaSmiGpuDiscovery(() => probeNvproxySupport(runscPath)).discover();
  console.log(JSON.stringify({ discovered: gpus }, null, 2));
  const gpu = gpus.find((candidate) => candidate.sandbox.wholeGpu);
  if (!gpu) {
    console.log(
      `no GPU here can be passed to gVisor: ${gpus.map((g) => `${g.uuid}: ${g.sandbox.reason}`).join('; ')}`,
    );
    process.exitCode = 1;
    return;
  }
  const plan = planGpuSandbox(
    { device: gpu.uuid, visibleDevice: String(gpu.index) },
    gpus,
    await findDriverLibraries(),
  );
  const workDir = mkdtempSync(join(tmpdir(), 'quire-gpu-check-'));
  const sandboxId = `gpu-check-${Date.now().toString(36)}`;
  const sandbox = new GvisorKernelSandbox({
    sandboxId,
    runsc: new Runsc({ runscPath, rootDir: join(workDir, 'runsc') }),
    bundleDir: join(workDir, 'bundles', sandboxId),
    kernelEnvDir,
    shimDir: join(__dirname, '..', '..', '..', '..', 'sandbox-runtimes', 'kernel-shim'),
    limits: { ...DEFAULT_LIMITS, memoryBytes: 8 * 1024 ** 3, cpus: 2 },
    gpu: plan,
  });
  try {
    const { bootMs } = await sandbox.start(120_000);
    console.log(`kernel started in gVisor with nvproxy on ${gpu.model} (${gpu.uuid}) in ${bootMs} ms`);
    const { reply, outputs } = await sandbox.client.execute(MATMUL);
    for (const message of outputs) {
      if (message.header.msg_type === 'stream') process.stdout.write(String(message.content.text));
      if (message.header.msg_type === 'error')
        console.log(`error: ${String(message.content.ename)}: ${String(message.content.evalue)}`);
    }
    if (reply.status !== 'ok') process.exitCode = 1;
  } finally {
    await sandbox.terminate();
  }
}

main().catch((error: Error) => {
  console.error(`device-check failed: ${error.message}`);
  process.exitCode = 1;
});
