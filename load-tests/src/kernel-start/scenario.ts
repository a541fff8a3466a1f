import { BenchHost } from '../lib/kernel-sandboxes';
import { WarmPool, type GvisorKernelSandbox } from '../lib/host-worker';
import { now, summarize, withTimeout, type Summary } from '../lib/stats';

export interface KernelStartScenario {
  /** Acquisitions from a pool that has a ready kernel. */
  warmStarts: number;
  /** Cold boots of each variant. */
  coldStarts: number;
  /** Pool size during the warm samples; each sample waits until the pool is full again. */
  poolTarget: number;
  /** Acquisitions that wait only for one ready kernel, so each overlaps a background refill boot. */
  busyStarts: number;
}

export const DEFAULT_SCENARIO: KernelStartScenario = {
  warmStarts: 50,
  coldStarts: 10,
  poolTarget: 2,
  busyStarts: 20,
};

export interface KernelStartResults {
  warm: {
    /** acquire() called → a trivial execute answered (execute_reply + status idle). */
    total: Summary;
    /** acquire() called → kernel handed out (liveness-checked with kernel_info). */
    acquire: Summary;
    /** Kernel handed out → first execute answered. */
    firstExecute: Summary;
    /** acquire() of the previous sample → pool full again (the background refill). */
    refill: Summary;
    /** One background boot (start + IOPub check), from the pool's events. */
    refillBoot: Summary;
    /** acquire() → first execute answered while a refill boot runs on the machine. */
    duringRefill: Summary;
    /** How many of the duringRefill samples did have a boot under way when they started. */
    duringRefillOverlapped: number;
    misses: number;
  };
  cold: { variant: string; total: Summary; boot: Summary; firstExecute: Summary }[];
}

async function firstExecute(sandbox: GvisorKernelSandbox): Promise<void> {
  const { reply } = await withTimeout(sandbox.client.execute('pass'), 15_000, 'first execute');
  if (reply.status !== 'ok') throw new Error(`first execute: ${reply.status}`);
}

export async function runWarm(
  host: BenchHost,
  sc: KernelStartScenario,
  progress: (line: string) => void,
): Promise<KernelStartResults['warm']> {
  const bootMs: number[] = [];
  const pool = new WarmPool({
    target: sc.poolTarget,
    factory: host.poolFactory('warm'),
    onEvent: (e) => {
      if (e.type === 'booted') bootMs.push(e.bootMs);
      if (e.type === 'boot-failed' || e.type === 'discarded') progress(`pool: ${JSON.stringify(e)}`);
    },
  });
  const total: number[] = [];
  const acquire: number[] = [];
  const exec: number[] = [];
  const refill: number[] = [];
  const busy: number[] = [];
  const refillBootMs: number[] = [];
  let overlapped = 0;
  let misses = 0;
  try {
    await pool.waitForReady(sc.poolTarget, 120_000);
    bootMs.length = 0; // the initial fill is not a refill
    let previousAcquire: number | undefined;
    for (let i = 0; i < sc.warmStarts; i++) {
      // A ready kernel for this sample: wait until the pool is back at its target.
      await pool.waitForReady(sc.poolTarget, 60_000);
      if (previousAcquire !== undefined) refill.push(now() - previousAcquire);
      const t0 = now();
      previousAcquire = t0;
      const got = await pool.acquire();
      const handedOut = now();
      await firstExecute(got.sandbox);
      const t1 = now();
      if (!got.fromWarmPool) misses++;
      total.push(t1 - t0);
      acquire.push(handedOut - t0);
      exec.push(t1 - handedOut);
      await got.sandbox.terminate();
      if ((i + 1) % 10 === 0) progress(`warm ${i + 1}/${sc.warmStarts}`);
    }
    refillBootMs.push(...bootMs);
    // Back to back: only one ready kernel is awaited, so the refill boot runs during the sample.
    for (let i = 0; i < sc.busyStarts; i++) {
      await pool.waitForReady(1, 60_000);
      if (pool.booting > 0) overlapped++;
      const t0 = now();
      const got = await pool.acquire();
      await firstExecute(got.sandbox);
      busy.push(now() - t0);
      if (!got.fromWarmPool) misses++;
      await got.sandbox.terminate();
    }
    if (sc.busyStarts) progress(`warm during refill ${sc.busyStarts}/${sc.busyStarts}`);
  } finally {
    await pool.close();
  }
  return {
    total: summarize(total),
    acquire: summarize(acquire),
    firstExecute: summarize(exec),
    refill: summarize(refill),
    refillBoot: summarize(refillBootMs),
    duringRefill: summarize(busy),
    duringRefillOverlapped: overlapped,
    misses,
  };
}

export async function runCold(
  host: BenchHost,
  sc: KernelStartScenario,
  progress: (line: string) => void,
): Promise<KernelStartResults['cold']> {
  // The pool's cold path (target 0): start, IOPub check, then the first execute.
  const variants = [
    {
      variant: 'cold, bare ipykernel (as KernelHost.start boots today)',
      pool: new WarmPool({ target: 0, factory: () => host.plainSandbox() }),
    },
    {
      variant: 'cold, numpy + pandas preloaded (as the pool boots)',
      pool: new WarmPool({ target: 0, factory: host.poolFactory('cold') }),
    },
  ];
  const samples = variants.map(() => ({ total: [] as number[], boot: [] as number[], exec: [] as number[] }));
  try {
    for (let i = 0; i < sc.coldStarts; i++) {
      // Interleaved, so that drift on the machine hits both variants alike.
      for (const [k, v] of variants.entries()) {
        const t0 = now();
        const got = await v.pool.acquire();
        const booted = now();
        await firstExecute(got.sandbox);
        const t1 = now();
        if (got.fromWarmPool) throw new Error('a target-0 pool handed out a pooled kernel');
        samples[k]!.total.push(t1 - t0);
        samples[k]!.boot.push(booted - t0);
        samples[k]!.exec.push(t1 - booted);
        await got.sandbox.terminate();
      }
      progress(`cold ${i + 1}/${sc.coldStarts}`);
    }
  } finally {
    await Promise.all(variants.map((v) => v.pool.close()));
  }
  return variants.map((v, k) => ({
    variant: v.variant,
    total: summarize(samples[k]!.total),
    boot: summarize(samples[k]!.boot),
    firstExecute: summarize(samples[k]!.exec),
  }));
}
