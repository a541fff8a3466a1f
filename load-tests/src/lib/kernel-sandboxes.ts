import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_LIMITS,
  GvisorKernelSandbox,
  poolSandboxFactory,
  Runsc,
  type SandboxFactory,
} from './host-worker';
import { requireEnv } from './stats';

export const REPO_ROOT = join(__dirname, '..', '..', '..');
export const SHIM_DIR = join(REPO_ROOT, 'sandbox-runtimes', 'kernel-shim');

/** A private runsc root and work folder for one benchmark run, removed by `dispose()`. */
export class BenchHost {
  readonly workDir = mkdtempSync(join(tmpdir(), 'quire-bench-'));
  /** QUIRE_RUNSC_PATH (the launcher's choice), its platform (QUIRE_RUNSC_PLATFORM or the best it has). */
  readonly runsc = new Runsc({ rootDir: join(this.workDir, 'runsc') });
  readonly kernelEnvDir = requireEnv('QUIRE_KERNEL_ENV');
  private n = 0;

  /** Pool-style sandboxes (no home volume; numpy + pandas preloaded unless `preload` says otherwise). */
  poolFactory(idPrefix: string, preload?: string[]): SandboxFactory {
    return poolSandboxFactory({
      runsc: this.runsc,
      workDir: this.workDir,
      kernelEnvDir: this.kernelEnvDir,
      shimDir: SHIM_DIR,
      limits: DEFAULT_LIMITS,
      idPrefix,
      ...(preload ? { preload } : {}),
    });
  }

  /** A plain sandbox as the host worker builds one, without preload and home volume. */
  plainSandbox(): GvisorKernelSandbox {
    const sandboxId = `bench-${process.pid}-${this.n++}`;
    return new GvisorKernelSandbox({
      sandboxId,
      runsc: this.runsc,
      bundleDir: join(this.workDir, 'bundles', sandboxId),
      kernelEnvDir: this.kernelEnvDir,
      shimDir: SHIM_DIR,
      limits: DEFAULT_LIMITS,
    });
  }

  /** Kills whatever is still running under this runsc root and removes the folder. Returns leftovers found. */
  async dispose(): Promise<string[]> {
    // Kills, deletes, unmounts runsc's null-netns inside the root, removes it.
    const left = await this.runsc.removeRoot();
    rmSync(this.workDir, { recursive: true, force: true });
    return left;
  }
}
