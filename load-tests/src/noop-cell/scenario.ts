import { now, summarize, type Summary } from '../lib/stats';
import type { Peer } from './peers';

export interface NoopCellScenario {
  /** Round trips per peer before measuring. */
  warmup: number;
  /** Measured round trips per peer. */
  roundTrips: number;
  /** Peers take turns in blocks of this many round trips, so drift on the machine hits all alike. */
  block: number;
  /** Heartbeat and kernel_info round trips per KernelClient peer (0: none). */
  probes: number;
}

export const DEFAULT_SCENARIO: NoopCellScenario = { warmup: 50, roundTrips: 500, block: 50, probes: 200 };
export const CELL = 'pass';

export interface PeerResult {
  name: string;
  describe: string;
  summary: Summary;
}

export async function runNoopCell(
  peers: Peer[],
  sc: NoopCellScenario,
  progress: (line: string) => void,
): Promise<PeerResult[]> {
  for (const p of peers) for (let i = 0; i < sc.warmup; i++) await p.roundTrip(CELL);
  const samples = peers.map(() => [] as number[]);
  const t0 = now();
  // Bounded: roundTrips / block turns of every peer.
  while (samples[0]!.length < sc.roundTrips) {
    for (const [k, p] of peers.entries()) {
      const n = Math.min(sc.block, sc.roundTrips - samples[k]!.length);
      for (let i = 0; i < n; i++) samples[k]!.push(await p.roundTrip(CELL));
    }
    progress(
      `${samples[0]!.length}/${sc.roundTrips} round trips per peer (${((now() - t0) / 1000).toFixed(1)} s)`,
    );
  }
  return peers.map((p, k) => ({ name: p.name, describe: p.describe, summary: summarize(samples[k]!) }));
}

/** The peers' probes (heartbeat, kernel_info): `n` each after a short warm-up. */
export async function runProbes(peers: Peer[], n: number): Promise<PeerResult[]> {
  const out: PeerResult[] = [];
  for (const p of peers) {
    for (const probe of p.probes ?? []) {
      for (let i = 0; i < Math.min(20, n); i++) await probe.run();
      const xs: number[] = [];
      for (let i = 0; i < n; i++) xs.push(await probe.run());
      out.push({ name: `${p.name}: ${probe.name}`, describe: '', summary: summarize(xs) });
    }
  }
  return out;
}
