import {
  applyPlacement,
  feasibleStarts,
  type GpuLayout,
  type Placement,
  type PlacementRequest,
} from './gpu-layout';
import { MIG_RULES, type MigKind } from './mig-profiles';

/**
 * A placement algorithm: where a request goes on the fleet now, or null when
 * nothing fits. Pure; the scheduler applies the answer. Three implementations
 * share the interface so the benchmark compares them in one run.
 */
export interface GpuPlacer {
  readonly name: string;
  place(fleet: readonly GpuLayout[], req: PlacementRequest): Placement | null;
}

interface Candidate {
  gpu: GpuLayout;
  index: number;
  start: number;
}

function candidates(fleet: readonly GpuLayout[], req: PlacementRequest): Candidate[] {
  const out: Candidate[] = [];
  fleet.forEach((gpu, index) => {
    if (gpu.gpuType !== req.gpuType) return;
    for (const start of feasibleStarts(gpu, req.kind)) out.push({ gpu, index, start });
  });
  return out;
}

const toPlacement = (c: Candidate, kind: MigKind | null): Placement => ({
  uuid: c.gpu.uuid,
  kind,
  start: c.start,
  size: kind === null ? 8 : MIG_RULES[kind].size,
});

const usedSlots = (gpu: GpuLayout) => gpu.parts.reduce((n, p) => n + p.size, 0);

/** The driver's default behaviour: the first GPU, the lowest free start slot. */
export const firstFitPlacer: GpuPlacer = {
  name: 'first-fit',
  place(fleet, req) {
    const c = candidates(fleet, req)[0];
    return c ? toPlacement(c, req.kind) : null;
  },
};

/** The fullest GPU that fits (fewest free slots left), lowest start slot. */
export const bestFitPlacer: GpuPlacer = {
  name: 'best-fit',
  place(fleet, req) {
    let best: Candidate | null = null;
    for (const c of candidates(fleet, req)) if (!best || usedSlots(c.gpu) > usedSlots(best.gpu)) best = c;
    return best ? toPlacement(best, req.kind) : null;
  },
};

/** Larger profiles weigh more: keeping a 7g or 4g placeable is worth more than a 1g. */
const KEEP_WEIGHTS: ReadonlyArray<[MigKind, number]> = [
  ['7g', 4096],
  ['4g', 512],
  ['3g', 64],
  ['2g', 16],
  ['1g.2slot', 4],
  ['1g', 1],
];

/** How many placements of each large profile the GPU still admits, weighted. */
export function placeabilityScore(gpu: GpuLayout): number {
  if (!gpu.mig) return gpu.parts.length === 0 ? 64 : 0;
  return KEEP_WEIGHTS.reduce((sum, [kind, w]) => sum + w * feasibleStarts(gpu, kind).length, 0);
}

/**
 * Fragmentation-aware: among every feasible (GPU, start slot), choose the one
 * that loses the least placeability on its GPU (what large profiles can still
 * be created there afterwards); ties go to the fuller GPU (pack, keep empty
 * GPUs empty for whole-GPU and 7g requests), then the lower slot.
 */
export const fragmentationAwarePlacer: GpuPlacer = {
  name: 'fragmentation-aware',
  place(fleet, req) {
    let best: { c: Candidate; loss: number; used: number } | null = null;
    for (const c of candidates(fleet, req)) {
      const after = applyPlacement(c.gpu, req.allocationId, toPlacement(c, req.kind));
      const loss = placeabilityScore(c.gpu) - placeabilityScore(after);
      const used = usedSlots(c.gpu);
      if (
        !best ||
        loss < best.loss ||
        (loss === best.loss && used > best.used) ||
        (loss === best.loss && used === best.used && c.start < best.c.start)
      )
        best = { c, loss, used };
    }
    return best ? toPlacement(best.c, req.kind) : null;
  },
};

export const PLACERS: readonly GpuPlacer[] = [fragmentationAwarePlacer, firstFitPlacer, bestFitPlacer];
