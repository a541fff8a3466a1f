import type { ListKernelsResponse } from '@quire/contracts';
import type { JsonLogger } from '@quire/service-kit';
import { HostWorkerClient } from './host-worker.client';
import type { KernelTarget } from './kernel-provider';
import type { KernelMemory } from './kernel-session';

/** What the poller needs of a kernel session (KernelSession has it). */
export interface MemoryWatched {
  readonly target: KernelTarget;
  readonly listenerCount: number;
  readonly hostApiUrl: string | null;
  readonly kernelStatus: { state: string };
  setMemory(m: KernelMemory | null): void;
  /** Found running on this host while the session thought there was no kernel. */
  adoptRunning(hostApiUrl: string): void;
}

export interface KernelMemoryPollerOptions {
  /** The sessions to consider on each tick (all of this gateway's). */
  sessions: () => Iterable<MemoryWatched>;
  /** Where a kernel runs when this gateway has not reached it itself (KernelProvider.locate). */
  locate?: (t: KernelTarget) => Promise<string | null>;
  intervalMs: number;
  logger: JsonLogger;
  /** A host's kernel listing; injectable so the grouping is unit-testable without a host. */
  listHost?: (hostApiUrl: string) => Promise<ListKernelsResponse>;
}

/**
 * States worth a reading: a running kernel's, and `none` — a session that has
 * not (yet) reached its kernel may be watching one that runs (started by
 * another gateway instance, or before this one restarted).
 */
const WATCHABLE = new Set(['idle', 'busy', 'none']);

/**
 * The per-kernel memory gauge's data: every `intervalMs`, for the kernels
 * someone is watching (a kernel channel is open), one `GET /internal/kernels`
 * per host worker — not one per kernel — and each session gets its sandbox's
 * cgroup reading (used, limit). Nobody watching = no requests at all.
 */
export class KernelMemoryPoller {
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private readonly listHost: (hostApiUrl: string) => Promise<ListKernelsResponse>;
  /** Hosts that failed last time, so an unreachable host is logged once, not every tick. */
  private readonly failing = new Set<string>();

  constructor(private readonly opts: KernelMemoryPollerOptions) {
    this.listHost = opts.listHost ?? ((url) => new HostWorkerClient(url).list());
  }

  start(): void {
    if (this.timer || this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round; overlapping calls are skipped (a slow host must not pile up requests). */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.poll();
    } finally {
      this.ticking = false;
    }
  }

  private async poll(): Promise<void> {
    const watched = [...this.opts.sessions()].filter(
      (s) => s.listenerCount > 0 && WATCHABLE.has(s.kernelStatus.state),
    );
    if (watched.length === 0) return;
    const byHost = new Map<string, MemoryWatched[]>();
    await Promise.all(
      watched.map(async (s) => {
        let url = s.hostApiUrl;
        if (!url && this.opts.locate) {
          try {
            url = await this.opts.locate(s.target);
          } catch (err) {
            this.opts.logger.debug('kernel not located for its memory reading', {
              kernelId: s.target.kernelId,
              error: String(err),
            });
          }
        }
        if (!url) return s.setMemory(null);
        const group = byHost.get(url) ?? [];
        group.push(s);
        byHost.set(url, group);
      }),
    );
    await Promise.all(
      [...byHost].map(async ([url, sessions]) => {
        let listing: ListKernelsResponse;
        try {
          listing = await this.listHost(url);
          this.failing.delete(url);
        } catch (err) {
          if (!this.failing.has(url))
            this.opts.logger.warn('kernel host not answering memory readings', {
              host: url,
              error: String(err),
            });
          this.failing.add(url);
          // Unknown is honest; a stale number would not be.
          for (const s of sessions) s.setMemory(null);
          return;
        }
        const byKernel = new Map(listing.kernels.map((k) => [k.kernelId, k]));
        for (const s of sessions) {
          const k = byKernel.get(s.target.kernelId);
          if (k?.state === 'running' && s.kernelStatus.state === 'none') s.adoptRunning(url);
          s.setMemory(
            k?.state === 'running' && k.resources && k.resources.memoryLimitBytes > 0
              ? { usedBytes: k.resources.memoryBytes, limitBytes: k.resources.memoryLimitBytes }
              : null,
          );
        }
      }),
    );
  }
}
