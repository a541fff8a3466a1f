import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, Runsc, type SandboxLimits } from '@quire/sandbox-gvisor';
import { GvisorKernelSandbox } from '../src/sandbox/gvisor-kernel-sandbox';

export const SHIM_DIR = join(__dirname, '..', '..', '..', 'sandbox-runtimes', 'kernel-shim');

export function kernelEnvDir(): string {
  const dir = process.env.QUIRE_KERNEL_ENV;
  if (!dir)
    throw new Error(
      'QUIRE_KERNEL_ENV is not set: run integration tests through `npm test` (or eval "$(npm run -s quire -- env)")',
    );
  return dir;
}

/** A "host": its own runsc state folder and work folder, as a second host worker would have. */
export function makeHost(name: string): { runsc: Runsc; workDir: string } {
  const workDir = mkdtempSync(join(tmpdir(), `quire-host-${name}-`));
  return { runsc: new Runsc({ rootDir: join(workDir, 'runsc') }), workDir };
}

let n = 0;

export async function startKernel(
  opts: {
    limits?: Partial<SandboxLimits>;
    host?: ReturnType<typeof makeHost>;
    homeVolumeDir?: string;
    preload?: string[];
  } = {},
) {
  const host = opts.host ?? makeHost('t');
  const sandboxId = `it-${process.pid}-${Date.now().toString(36)}-${n++}`;
  const sandbox = new GvisorKernelSandbox({
    sandboxId,
    runsc: host.runsc,
    bundleDir: join(host.workDir, 'bundles', sandboxId),
    kernelEnvDir: kernelEnvDir(),
    shimDir: SHIM_DIR,
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    ...(opts.homeVolumeDir ? { homeVolumeDir: opts.homeVolumeDir } : {}),
    ...(opts.preload ? { preload: opts.preload } : {}),
  });
  await sandbox.start();
  return { sandbox, host };
}
