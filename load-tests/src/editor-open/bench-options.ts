import { numberArgs } from '../lib/args';

export const PEERS = ['jupyterlab', 'none'] as const;
export type PeerChoice = (typeof PEERS)[number];

export const DEFAULTS = { loads: 30, warmLoads: 30, cells: 200 };

/**
 * The benchmark's options: `--peer jupyterlab|none` (the one non-numeric one)
 * and the numeric knobs, which go to numberArgs (unknown options fail there).
 */
export function parseEditorOpenArgs(argv: string[]): { peer: PeerChoice } & typeof DEFAULTS {
  let peer: PeerChoice = 'jupyterlab';
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const m = /^--peer(?:=(.*))?$/.exec(argv[i]!);
    if (!m) {
      rest.push(argv[i]!);
      continue;
    }
    const v = m[1] ?? argv[++i];
    if (!PEERS.includes(v as PeerChoice))
      throw new Error(`--peer must be one of ${PEERS.join(', ')}, got ${v ?? 'nothing'}`);
    peer = v as PeerChoice;
  }
  const numbers = numberArgs({ ...DEFAULTS }, rest);
  if (numbers.cells < 2) throw new Error('--cells needs at least 2 (a markdown cell, then a code cell)');
  return { peer, ...numbers };
}
