import type { EnsureRunningRequest, KernelStatus } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { HostWorkerClient } from './host-worker.client';
import type { KernelProvider, KernelTarget, RunningKernel } from './kernel-provider';

/**
 * One host worker, no lifecycle workflow (QUIRE_KERNEL_PROVIDER=direct):
 * starts the kernel there when absent, restores it when hibernated. For
 * single-host development; no idle hibernation happens on this path.
 */
export class DirectKernelProvider implements KernelProvider {
  private readonly host: HostWorkerClient;

  constructor(hostApiUrl: string) {
    this.host = new HostWorkerClient(hostApiUrl);
  }

  async ensureRunning(
    t: KernelTarget,
    _reason: EnsureRunningRequest['reason'],
    onStatus: (s: KernelStatus) => void,
  ): Promise<RunningKernel> {
    // One host and no scheduler here: a GPU notebook would silently get a CPU kernel.
    if (t.gpu)
      throw new QuireError(
        'validation',
        `this notebook asks for a GPU (${t.gpu.gpuType}, ${t.gpu.profile}), and this gateway starts kernels on one host without the GPU scheduler (QUIRE_KERNEL_PROVIDER=direct); switch Compute to CPU or use the lifecycle provider`,
        'gpu.needs_lifecycle',
      );
    const t0 = performance.now();
    const { kernels } = await this.host.list();
    const k = kernels.find((x) => x.kernelId === t.kernelId);
    const done = (via: string, notice: string | null = null): RunningKernel => ({
      hostApiUrl: this.host.baseUrl,
      via,
      notice,
      ms: performance.now() - t0,
    });
    if (k?.state === 'running') return done('already-running');
    if (k?.state === 'hibernated' && k.lastSnapshotId) {
      onStatus({ state: 'restoring', progress: 'restoring the kernel from its snapshot' });
      await this.host.restore(t.kernelId, k.lastSnapshotId);
      return done('restore');
    }
    if (k) await this.host.terminate(t.kernelId); // starting or exited: start over
    onStatus({ state: 'starting', progress: 'starting a kernel' });
    const started = await this.host.start({
      kernelId: t.kernelId,
      tenant: t.tenant,
      notebookId: t.notebookId,
      userId: t.userId,
    });
    return done(
      started.fromWarmPool ? 'warm-pool' : 'cold-boot',
      k ? 'A fresh kernel: the previous one had stopped.' : null,
    );
  }

  /** Always the one host: its listing says whether the kernel is there. */
  locate(): Promise<string | null> {
    return Promise.resolve(this.host.baseUrl);
  }

  async terminate(t: KernelTarget): Promise<void> {
    await this.host.terminate(t.kernelId);
  }
}
