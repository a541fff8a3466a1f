import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KernelUnavailableError } from '../jupyter/kernel-client';
import {
  GvisorKernelSandbox,
  type CheckpointResult,
  type ExitReason,
  type SandboxExit,
} from './gvisor-kernel-sandbox';

/**
 * UNSAFE: the kernel as a plain child process of the host worker, for
 * machines without gVisor (development laptops). Same shim, same relay, same
 * Jupyter path — but no isolation, no limits, no network block and no
 * hibernation. The host worker refuses it unless
 * QUIRE_ALLOW_UNSAFE_PROCESS_RUNTIME=true, and says so loudly.
 */
export class ProcessKernelSandbox extends GvisorKernelSandbox {
  static readonly WARNING =
    'UNSAFE process runtime: kernels run unsandboxed on this host with its user’s privileges (no gVisor, no limits, network open). Development only.';

  override prepareBundle(): void {
    // No OCI bundle: the shim runs directly.
  }

  override async start(timeoutMs = 60_000): Promise<{ bootMs: number }> {
    const t0 = Date.now();
    const runtimeDir = join(this.opts.bundleDir, 'runtime');
    mkdirSync(join(runtimeDir, 'kernel'), { recursive: true });
    const ready = this.waitForShimReady(timeoutMs);
    const child = spawn(
      join(this.opts.kernelEnvDir, 'bin', 'python'),
      ['-u', join(this.opts.shimDir, 'quire_kernel_shim.py')],
      {
        stdio: 'pipe',
        cwd: this.opts.homeVolumeDir ?? runtimeDir,
        env: {
          PATH: `${join(this.opts.kernelEnvDir, 'bin')}:/usr/bin:/bin`,
          HOME: this.opts.homeVolumeDir ?? runtimeDir,
          LANG: 'C.UTF-8',
          QUIRE_KERNEL_KEY: this.key,
          QUIRE_KERNEL_SESSION: this.client.session.sessionId,
          QUIRE_KERNEL_PRELOAD: (this.opts.preload ?? []).join(','),
          QUIRE_KERNEL_RUNTIME_DIR: join(runtimeDir, 'kernel'),
          QUIRE_SHIM_RUNTIME_DIR: join(runtimeDir, 'shim'),
          MPLBACKEND: 'module://matplotlib_inline.backend_inline',
          PYTHONDONTWRITEBYTECODE: '1',
        },
      },
    );
    this.bindChild(child);
    await ready;
    await this.client.waitForReady(Math.max(1000, timeoutMs - (Date.now() - t0)));
    this.state = 'running';
    return { bootMs: Date.now() - t0 };
  }

  override async checkpoint(): Promise<CheckpointResult> {
    throw new KernelUnavailableError('the process runtime cannot hibernate kernels (no gVisor on this host)');
  }

  override async restore(): Promise<{ ms: number }> {
    throw new KernelUnavailableError('the process runtime cannot restore kernels (no gVisor on this host)');
  }

  override async terminate(reason: ExitReason = 'shutdown'): Promise<SandboxExit | undefined> {
    this.terminating = reason;
    const exited = new Promise<SandboxExit | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), 5000);
      this.onExit = (e) => {
        clearTimeout(t);
        resolve(e);
      };
    });
    try {
      this.transport.sendShim({ type: 'signal', signal: 'SIGKILL' });
    } catch {
      /* already gone */
    }
    this.killChild();
    const exit = await exited;
    this.state = 'exited';
    return exit;
  }
}
