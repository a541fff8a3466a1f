import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { KernelUnavailableError } from '../jupyter/kernel-client';
import { GvisorKernelSandbox, type GvisorKernelOptions } from '../sandbox/gvisor-kernel-sandbox';

/** Builds a new, not yet started sandbox. Every call must give a fresh sandbox id and bundle folder. */
export type SandboxFactory = () => GvisorKernelSandbox;

export interface WarmPoolOptions {
  /** Builds pool sandboxes. They must not mount a user's home volume (see poolSandboxFactory). */
  factory: SandboxFactory;
  /** How many ready sandboxes to keep. */
  target: number;
  /** Limit for one boot (start + IOPub check). Default 60 s. */
  bootTimeoutMs?: number;
  /** Limit for the liveness check (kernel_info) of a pooled sandbox on acquire. Default 1 s. */
  checkTimeoutMs?: number;
  /** First pause after a failed background boot; doubles per failure up to maxRetryDelayMs. Default 1 s. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** After this many failed boots in a row the refill stops until setTarget() is called. Default 5. */
  maxConsecutiveFailures?: number;
  onEvent?: (event: WarmPoolEvent) => void;
}

export type WarmPoolEvent =
  | { type: 'booted'; sandboxId: string; bootMs: number }
  | { type: 'boot-failed'; error: string; consecutiveFailures: number }
  | { type: 'refill-paused'; consecutiveFailures: number; error: string }
  | { type: 'discarded'; sandboxId: string; reason: string }
  | { type: 'acquired'; sandboxId: string; fromWarmPool: boolean; readyMs: number };

export interface AcquiredKernel {
  sandbox: GvisorKernelSandbox;
  /** true: a pre-booted sandbox; false: the pool had no live sandbox and this one was cold-booted. */
  fromWarmPool: boolean;
  /** From the acquire() call to a kernel that answered kernel_info. */
  readyMs: number;
  /** Pooled sandboxes found dead during this acquire (discarded, not handed out). */
  discarded: number;
}

export interface WarmPoolStats {
  ready: number;
  booting: number;
  coldBooting: number;
  target: number;
  hits: number;
  misses: number;
  discarded: number;
  boots: number;
  bootFailures: number;
  lastBootMs?: number;
  refillPaused: boolean;
}

interface PooledSandbox {
  sandbox: GvisorKernelSandbox;
}

export class WarmPoolClosedError extends Error {
  constructor() {
    super('the warm pool is closed');
    this.name = 'WarmPoolClosedError';
  }
}

/**
 * A pool of pre-booted kernel sandboxes (ipykernel up, heavy modules imported),
 * so that a kernel appears without a boot. Refilled in the background, one boot
 * at a time; a cold boot asked for by acquire() goes first (the background
 * refill waits for it). A pooled sandbox is checked with kernel_info before it
 * is handed out; one that died or does not answer is discarded.
 *
 * Pool sandboxes are booted before the user is known, so they have no home
 * volume: /home/jovyan is the image's read-only (empty) folder, the working
 * directory is /tmp.
 */
export class WarmPool {
  private readonly idle: PooledSandbox[] = [];
  private targetCount: number;
  private bootingCount = 0;
  private inFlight?: GvisorKernelSandbox;
  /** The in-flight boot that drain() cut short: its failure is not a boot failure. */
  private aborted?: GvisorKernelSandbox;
  private readonly coldBoots = new Set<Promise<unknown>>();
  private refill?: Promise<void>;
  private closed = false;
  private paused = false;
  private consecutiveFailures = 0;
  private wakeBackoff?: () => void;
  private readonly changeWaiters = new Set<() => void>();
  private readonly counters = { hits: 0, misses: 0, discarded: 0, boots: 0, bootFailures: 0 };
  private lastBootMs?: number;
  private readonly opts: Required<Omit<WarmPoolOptions, 'onEvent'>> & Pick<WarmPoolOptions, 'onEvent'>;

  constructor(options: WarmPoolOptions) {
    this.opts = {
      bootTimeoutMs: 60_000,
      checkTimeoutMs: 1000,
      retryDelayMs: 1000,
      maxRetryDelayMs: 30_000,
      maxConsecutiveFailures: 5,
      ...options,
    };
    this.targetCount = checkTarget(options.target);
    this.kick();
  }

  /** Sandboxes booted and waiting to be handed out. */
  get ready(): number {
    return this.idle.length;
  }

  /** Background boots under way (0 or 1). */
  get booting(): number {
    return this.bootingCount;
  }

  get target(): number {
    return this.targetCount;
  }

  stats(): WarmPoolStats {
    return {
      ready: this.ready,
      booting: this.booting,
      coldBooting: this.coldBoots.size,
      target: this.targetCount,
      ...this.counters,
      ...(this.lastBootMs !== undefined ? { lastBootMs: this.lastBootMs } : {}),
      refillPaused: this.paused,
    };
  }

  /** Ids of the sandboxes waiting in the pool, oldest first (handed out in this order). */
  readyIds(): string[] {
    return this.idle.map((p) => p.sandbox.id);
  }

  /**
   * Changes the pool size (the lifecycle autoscales it from the new-kernel rate).
   * Surplus idle sandboxes are terminated; a refill paused by failures resumes.
   */
  async setTarget(n: number): Promise<void> {
    this.targetCount = checkTarget(n);
    this.paused = false;
    this.consecutiveFailures = 0;
    const surplus = this.idle.splice(this.targetCount);
    this.changed();
    this.kick();
    await Promise.all(surplus.map((p) => this.discard(p.sandbox, 'pool shrunk', false)));
  }

  /**
   * A kernel: the oldest live pooled sandbox, or a cold boot when there is none.
   * `coldFactory` builds the sandbox for the cold path (e.g. with the user's home
   * volume); by default the pool's factory.
   */
  async acquire(opts: { coldFactory?: SandboxFactory } = {}): Promise<AcquiredKernel> {
    if (this.closed) throw new WarmPoolClosedError();
    const t0 = performance.now();
    let discarded = 0;
    // Bounded: every turn removes one sandbox from the pool.
    for (let entry = this.idle.shift(); entry; entry = this.idle.shift()) {
      const { sandbox } = entry;
      sandbox.onExit = undefined;
      sandbox.onShimMessage = undefined;
      this.changed();
      const alive = await this.isAlive(sandbox);
      // The refill starts after the check, so that its boot does not slow the check down.
      this.kick();
      if (alive) {
        this.counters.hits++;
        return this.handOut(sandbox, true, t0, discarded);
      }
      discarded++;
      void this.discard(sandbox, 'no answer to kernel_info on acquire');
    }
    this.counters.misses++;
    const sandbox = (opts.coldFactory ?? this.opts.factory)();
    const boot = this.boot(sandbox, false);
    const tracked = boot.catch(() => undefined);
    this.coldBoots.add(tracked);
    try {
      await boot;
    } catch (err) {
      await sandbox.terminate().catch(() => undefined);
      throw err;
    } finally {
      this.coldBoots.delete(tracked);
      this.changed();
    }
    return this.handOut(sandbox, false, t0, discarded);
  }

  /** Resolves when `count` (default: the target) sandboxes are ready; rejects after `timeoutMs`. */
  async waitForReady(count = this.targetCount, timeoutMs = 120_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.ready < Math.min(count, this.targetCount)) {
      if (this.closed) throw new WarmPoolClosedError();
      if (this.paused)
        throw new KernelUnavailableError('the warm pool stopped refilling after repeated boot failures');
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new KernelUnavailableError(
          `warm pool: ${this.ready} of ${count} sandboxes ready after ${timeoutMs} ms`,
        );
      }
      await this.nextChange(left);
    }
  }

  /** Terminates every idle sandbox and the one booting, and stops refilling (target 0). */
  async drain(): Promise<number> {
    this.targetCount = 0;
    const idle = this.idle.splice(0);
    this.changed();
    this.wakeBackoff?.();
    const booting = this.inFlight;
    if (booting) this.aborted = booting;
    await Promise.all([
      ...idle.map((p) => this.discard(p.sandbox, 'drained', false)),
      ...(booting ? [booting.terminate().catch(() => undefined)] : []),
    ]);
    await this.refill; // ends: target is 0
    return idle.length;
  }

  /** drain(), then refuses further acquires. Sandboxes already handed out are the caller's. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
    await Promise.all([...this.coldBoots]);
  }

  private handOut(
    sandbox: GvisorKernelSandbox,
    fromWarmPool: boolean,
    t0: number,
    discarded: number,
  ): AcquiredKernel {
    const readyMs = performance.now() - t0;
    this.emit({ type: 'acquired', sandboxId: sandbox.id, fromWarmPool, readyMs });
    return { sandbox, fromWarmPool, readyMs, discarded };
  }

  private async isAlive(sandbox: GvisorKernelSandbox): Promise<boolean> {
    if (sandbox.state !== 'running') return false;
    try {
      await sandbox.client.kernelInfo(this.opts.checkTimeoutMs);
      return sandbox.state === 'running';
    } catch {
      return false;
    }
  }

  private async boot(sandbox: GvisorKernelSandbox, pooled: boolean): Promise<number> {
    if (pooled && sandbox.opts.homeVolumeDir) {
      throw new KernelUnavailableError('warm pool sandboxes must not mount a home volume');
    }
    const t0 = performance.now();
    // start() returns once kernel_info answered AND its IOPub status arrived (KernelClient.waitForReady).
    await sandbox.start(this.opts.bootTimeoutMs);
    return performance.now() - t0;
  }

  private kick(): void {
    if (this.refill || this.closed || this.paused) return;
    if (this.idle.length + this.bootingCount >= this.targetCount) return;
    this.refill = this.refillLoop().finally(() => {
      this.refill = undefined;
      this.changed();
    });
  }

  private async refillLoop(): Promise<void> {
    // Ends when the pool is full, closed, or paused after repeated failures.
    while (!this.closed && !this.paused && this.idle.length < this.targetCount) {
      if (this.coldBoots.size > 0) {
        // A user is waiting on a cold boot: do not compete with it for the CPU.
        await Promise.race([...this.coldBoots]);
        continue;
      }
      const sandbox = this.opts.factory();
      this.bootingCount = 1;
      this.inFlight = sandbox;
      this.changed();
      let bootMs: number;
      try {
        bootMs = await this.boot(sandbox, true);
      } catch (err) {
        await sandbox.terminate().catch(() => undefined);
        if (this.aborted === sandbox) continue;
        this.counters.bootFailures++;
        this.consecutiveFailures++;
        const error = (err as Error).message;
        this.emit({ type: 'boot-failed', error, consecutiveFailures: this.consecutiveFailures });
        if (this.consecutiveFailures >= this.opts.maxConsecutiveFailures) {
          this.paused = true;
          this.emit({ type: 'refill-paused', consecutiveFailures: this.consecutiveFailures, error });
          return;
        }
        await this.backoff(
          Math.min(this.opts.maxRetryDelayMs, this.opts.retryDelayMs * 2 ** (this.consecutiveFailures - 1)),
        );
        continue;
      } finally {
        this.bootingCount = 0;
        this.inFlight = undefined;
        if (this.aborted === sandbox) this.aborted = undefined;
        this.changed();
      }
      this.consecutiveFailures = 0;
      this.counters.boots++;
      this.lastBootMs = bootMs;
      if (this.closed || this.idle.length >= this.targetCount) {
        await this.discard(sandbox, 'not needed any more', false);
        continue;
      }
      this.emit({ type: 'booted', sandboxId: sandbox.id, bootMs });
      this.admit(sandbox);
    }
  }

  /** Puts a booted sandbox in the pool, watching it for a death while it waits. */
  private admit(sandbox: GvisorKernelSandbox): void {
    const entry: PooledSandbox = { sandbox };
    const drop = (reason: string) => {
      const i = this.idle.indexOf(entry);
      if (i < 0) return;
      this.idle.splice(i, 1);
      this.changed();
      void this.discard(sandbox, reason);
      this.kick();
    };
    sandbox.onExit = (exit) => drop(`sandbox exited while pooled: ${exit.message}`);
    sandbox.onShimMessage = (msg) => {
      if (msg.type === 'kernel-exited') drop(`kernel exited while pooled (${msg.code ?? msg.signal})`);
    };
    this.idle.push(entry);
    this.changed();
  }

  private async discard(sandbox: GvisorKernelSandbox, reason: string, dead = true): Promise<void> {
    if (dead) {
      this.counters.discarded++;
      this.emit({ type: 'discarded', sandboxId: sandbox.id, reason });
    }
    sandbox.onExit = undefined;
    sandbox.onShimMessage = undefined;
    await sandbox.terminate().catch(() => undefined);
  }

  /** A pause that drain()/close() can cut short. */
  private async backoff(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeBackoff = done;
    });
    this.wakeBackoff = undefined;
  }

  private changed(): void {
    const waiters = [...this.changeWaiters];
    this.changeWaiters.clear();
    waiters.forEach((w) => w());
  }

  private nextChange(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.changeWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.changeWaiters.add(done);
    });
  }

  private emit(event: WarmPoolEvent): void {
    try {
      this.opts.onEvent?.(event);
    } catch {
      // an observer's failure is not the pool's
    }
  }
}

function checkTarget(n: number): number {
  if (!Number.isInteger(n) || n < 0)
    throw new RangeError(`warm pool target must be a whole number ≥ 0, got ${n}`);
  return n;
}

/**
 * Environment of pool kernels: with no home volume, $HOME (/home/jovyan) is read-only,
 * so IPython's and matplotlib's folders go to the scratch /tmp (matplotlib would
 * otherwise print a warning into the user's first plotting cell).
 */
export const POOL_KERNEL_ENV: Readonly<Record<string, string>> = {
  IPYTHONDIR: '/tmp/.ipython',
  MPLCONFIGDIR: '/tmp/.config/matplotlib',
};

export type PoolSandboxOptions = Omit<
  GvisorKernelOptions,
  'sandboxId' | 'bundleDir' | 'homeVolumeDir' | 'homeSlot' | 'key'
> & {
  /** Bundles go to `<workDir>/bundles/<sandboxId>`. */
  workDir: string;
  /**
   * When set, each pool sandbox gets a home-volume slot `<homeSlotsDir>/<sandboxId>`
   * mounted at /home, so the user's volume can be attached when it is handed out
   * (GvisorKernelSandbox.attachHome). Without it, pool kernels have no home volume.
   */
  homeSlotsDir?: string;
  idPrefix?: string;
  /** Default numpy and pandas. */
  preload?: string[];
};

/** The factory for pool sandboxes: no home volume, numpy and pandas preloaded, scratch-dir environment. */
export function poolSandboxFactory(opts: PoolSandboxOptions): SandboxFactory {
  const { workDir, homeSlotsDir, idPrefix = 'pool', preload = ['numpy', 'pandas'], ...base } = opts;
  let n = 0;
  return () => {
    const sandboxId = `${idPrefix}-${process.pid}-${Date.now().toString(36)}-${n++}`;
    return new GvisorKernelSandbox({
      ...base,
      preload,
      sandboxId,
      bundleDir: join(workDir, 'bundles', sandboxId),
      ...(homeSlotsDir ? { homeSlot: { dir: join(homeSlotsDir, sandboxId) } } : {}),
      env: { ...POOL_KERNEL_ENV, ...(base.env ?? {}) },
    });
  };
}
