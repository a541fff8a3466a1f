/**
 * NVIDIA's MIG placement rules as data (identical on A100-40GB, H100-80GB and
 * H100 NVL; `nvidia-smi mig -lgipp`): a GPU has 8 memory slots; each profile
 * may start only at some slots, spans a fixed number of them, and may exist a
 * limited number of times. Compute slices add up to at most 7.
 */
export type MigKind = '1g' | '1g+me' | '1g.2slot' | '2g' | '3g' | '4g' | '7g';

export interface MigKindRule {
  kind: MigKind;
  starts: readonly number[];
  size: number;
  max: number;
  /** Compute slices (the "Ng" of the name). */
  compute: number;
}

export const MIG_SLOTS = 8;
export const MIG_MAX_COMPUTE = 7;

export const MIG_RULES: Readonly<Record<MigKind, MigKindRule>> = {
  '1g': { kind: '1g', starts: [0, 1, 2, 3, 4, 5, 6], size: 1, max: 7, compute: 1 },
  '1g+me': { kind: '1g+me', starts: [0, 1, 2, 3, 4, 5, 6], size: 1, max: 1, compute: 1 },
  '1g.2slot': { kind: '1g.2slot', starts: [0, 2, 4, 6], size: 2, max: 4, compute: 1 },
  '2g': { kind: '2g', starts: [0, 2, 4], size: 2, max: 3, compute: 2 },
  '3g': { kind: '3g', starts: [0, 4], size: 4, max: 2, compute: 3 },
  '4g': { kind: '4g', starts: [0], size: 4, max: 1, compute: 4 },
  '7g': { kind: '7g', starts: [0], size: 8, max: 1, compute: 7 },
};

/** Profile names per GPU type key (HostGpu.gpuType) → placement kind. */
const PROFILE_NAMES: Readonly<Record<string, Readonly<Record<string, MigKind>>>> = {
  'h100-80gb': {
    '1g.10gb': '1g',
    '1g.10gb+me': '1g+me',
    '1g.20gb': '1g.2slot',
    '2g.20gb': '2g',
    '3g.40gb': '3g',
    '4g.40gb': '4g',
    '7g.80gb': '7g',
  },
  'h200-141gb': {
    '1g.18gb': '1g',
    '1g.18gb+me': '1g+me',
    '1g.35gb': '1g.2slot',
    '2g.35gb': '2g',
    '3g.71gb': '3g',
    '4g.71gb': '4g',
    '7g.141gb': '7g',
  },
  'a100-40gb': {
    '1g.5gb': '1g',
    '1g.5gb+me': '1g+me',
    '1g.10gb': '1g.2slot',
    '2g.10gb': '2g',
    '3g.20gb': '3g',
    '4g.20gb': '4g',
    '7g.40gb': '7g',
  },
  'a100-80gb': {
    '1g.10gb': '1g',
    '1g.10gb+me': '1g+me',
    '1g.20gb': '1g.2slot',
    '2g.20gb': '2g',
    '3g.40gb': '3g',
    '4g.40gb': '4g',
    '7g.80gb': '7g',
  },
};
// H100 NVL has the same table as H100 80GB (names differ in memory only on H200).
const ALIASES: Readonly<Record<string, string>> = { 'h100-nvl': 'h100-80gb', h200: 'h200-141gb' };

/** The placement kind of a profile on a GPU type, or null when that type does not offer it. */
export function migKindOf(gpuType: string, profile: string): MigKind | null {
  const table = PROFILE_NAMES[ALIASES[gpuType] ?? gpuType];
  return table?.[profile] ?? null;
}

/** Profile names a GPU type offers, largest first. */
export function migProfilesOf(gpuType: string): string[] {
  const table = PROFILE_NAMES[ALIASES[gpuType] ?? gpuType] ?? {};
  return Object.entries(table)
    .sort(
      ([, a], [, b]) => MIG_RULES[b].compute - MIG_RULES[a].compute || MIG_RULES[b].size - MIG_RULES[a].size,
    )
    .map(([name]) => name);
}

export function supportsMig(gpuType: string): boolean {
  return PROFILE_NAMES[ALIASES[gpuType] ?? gpuType] !== undefined;
}
