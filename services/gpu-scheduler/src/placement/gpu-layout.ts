import { MIG_MAX_COMPUTE, MIG_RULES, MIG_SLOTS, type MigKind } from './mig-profiles';

/** One allocated part of a GPU: a MIG instance at a start slot, or the whole GPU. */
export interface PlacedPart {
  allocationId: string;
  /** null = the whole GPU (MIG disabled). */
  kind: MigKind | null;
  start: number;
  size: number;
}

/** A GPU as the placer sees it. */
export interface GpuLayout {
  uuid: string;
  gpuType: string;
  /** MIG mode enabled: only MIG instances; disabled: only whole-GPU allocations. */
  mig: boolean;
  parts: PlacedPart[];
}

export interface PlacementRequest {
  allocationId: string;
  gpuType: string;
  /** null = a whole GPU. */
  kind: MigKind | null;
}

export interface Placement {
  uuid: string;
  /** null for a whole GPU. */
  kind: MigKind | null;
  start: number;
  size: number;
}

const overlaps = (a: { start: number; size: number }, b: { start: number; size: number }) =>
  a.start < b.start + b.size && b.start < a.start + a.size;

/** Every start slot at which `kind` may be created on this GPU now (NVIDIA's rules). */
export function feasibleStarts(gpu: GpuLayout, kind: MigKind | null): number[] {
  if (kind === null) return !gpu.mig && gpu.parts.length === 0 ? [0] : [];
  if (!gpu.mig) return [];
  const rule = MIG_RULES[kind];
  if (gpu.parts.filter((p) => p.kind === kind).length >= rule.max) return [];
  const compute = gpu.parts.reduce((n, p) => n + (p.kind ? MIG_RULES[p.kind].compute : MIG_MAX_COMPUTE), 0);
  if (compute + rule.compute > MIG_MAX_COMPUTE) return [];
  return rule.starts.filter(
    (start) =>
      start + rule.size <= MIG_SLOTS && !gpu.parts.some((p) => overlaps(p, { start, size: rule.size })),
  );
}

/** Why a layout is not one NVIDIA would create, or null when it is valid. */
export function layoutViolation(gpu: GpuLayout): string | null {
  const counts = new Map<MigKind, number>();
  let compute = 0;
  for (const [i, p] of gpu.parts.entries()) {
    if (p.kind === null) {
      if (gpu.mig) return `whole-GPU allocation on a MIG-enabled GPU ${gpu.uuid}`;
      if (gpu.parts.length !== 1)
        return `a whole GPU shared by ${gpu.parts.length} allocations on ${gpu.uuid}`;
      continue;
    }
    if (!gpu.mig) return `MIG instance on ${gpu.uuid}, which has MIG disabled`;
    const rule = MIG_RULES[p.kind];
    if (!rule.starts.includes(p.start)) return `${p.kind} may not start at slot ${p.start}`;
    if (p.size !== rule.size) return `${p.kind} spans ${rule.size} slots, not ${p.size}`;
    counts.set(p.kind, (counts.get(p.kind) ?? 0) + 1);
    if (counts.get(p.kind)! > rule.max) return `more than ${rule.max} × ${p.kind} on ${gpu.uuid}`;
    compute += rule.compute;
    for (const q of gpu.parts.slice(i + 1))
      if (q.kind !== null && overlaps(p, q)) return `overlap at ${gpu.uuid}`;
  }
  if (compute > MIG_MAX_COMPUTE) return `${compute} compute slices on ${gpu.uuid} (max ${MIG_MAX_COMPUTE})`;
  return null;
}

export function applyPlacement(gpu: GpuLayout, allocationId: string, p: Placement): GpuLayout {
  return { ...gpu, parts: [...gpu.parts, { allocationId, kind: p.kind, start: p.start, size: p.size }] };
}

export function releasePart(gpu: GpuLayout, allocationId: string): GpuLayout {
  return { ...gpu, parts: gpu.parts.filter((p) => p.allocationId !== allocationId) };
}
