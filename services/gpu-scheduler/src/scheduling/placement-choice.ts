import type { GpuLayout, PlacedPart } from '../placement/gpu-layout';
import { fragmentationAwarePlacer, type GpuPlacer } from '../placement/placers';
import { MIG_RULES, migKindOf, type MigKind } from '../placement/mig-profiles';

/**
 * Where a request goes in its pool, given the inventory and what is held:
 * pure, so the scheduler's transaction and the unit tests share it.
 *
 * - A whole GPU (`full`): a GPU with MIG off whose host's runtime passes
 *   whole GPUs and that nobody holds.
 * - A MIG slice: only on MIG-enabled GPUs whose host can hand slices to a
 *   sandbox. In order of preference:
 *   1. an existing, unheld instance of exactly that profile (nothing to create);
 *   2. a new instance on slots no instance covers (creating one never
 *      disturbs the others), placed fragmentation-aware;
 *   3. a re-layout: on a GPU with nothing allocated, its unheld instances may
 *      be destroyed and the slice placed on the empty GPU (never on a GPU that
 *      holds anything).
 */
export interface InventoryGpu {
  uuid: string;
  hostId: string;
  index: number;
  gpuType: string;
  /** As the driver names it, e.g. `NVIDIA H100 80GB HBM3` (labels only). */
  model?: string;
  migMode: 'enabled' | 'disabled' | 'unsupported';
  migInstances: { profile: string; start: number; size: number; uuid?: string }[];
  sandbox: { wholeGpu: boolean; migSlices: boolean; reason?: string };
  cudaCheckpoint: boolean;
  /** Present in its host's latest heartbeat and the host is not lost. */
  usable: boolean;
}

export interface HeldPart {
  requestId: string;
  device: string;
  start: number;
  size: number;
  /** null = whole GPU. */
  slice: string | null;
}

export interface PlacementChoice {
  gpu: InventoryGpu;
  slice: string | null;
  start: number;
  size: number;
  /** The handle the host exposes to the sandbox: a whole GPU's index, a MIG instance's uuid, or the instance to create. */
  visibleDevice: string;
  how: 'whole-gpu' | 'existing-instance' | 'new-instance' | 'relayout';
}

export type RequestFit =
  | { ok: true; kind: MigKind | null; slots: number }
  | { ok: false; code: 'gpu.profile_not_offered'; message: string };

/** The profile's placement kind and how many memory slots it takes. */
export function requestFit(gpuType: string, profile: string): RequestFit {
  if (profile === 'full') return { ok: true, kind: null, slots: 8 };
  const kind = migKindOf(gpuType, profile);
  if (!kind)
    return {
      ok: false,
      code: 'gpu.profile_not_offered',
      message: `${gpuType} has no MIG profile "${profile}"`,
    };
  return { ok: true, kind, slots: MIG_RULES[kind].size };
}

/** Whether some GPU of the pool could ever run this profile (MIG mode and the host runtime agree). */
export function runnableOn(gpu: InventoryGpu, profile: string): boolean {
  if (profile === 'full') return gpu.migMode !== 'enabled' && gpu.sandbox.wholeGpu;
  return gpu.migMode === 'enabled' && gpu.sandbox.migSlices && migKindOf(gpu.gpuType, profile) !== null;
}

const instanceKind = (gpuType: string, profile: string): MigKind | null => migKindOf(gpuType, profile);

function heldParts(gpu: InventoryGpu, held: readonly HeldPart[]): PlacedPart[] {
  return held
    .filter((h) => h.device === gpu.uuid)
    .map((h) => ({
      allocationId: h.requestId,
      kind: h.slice === null ? null : instanceKind(gpu.gpuType, h.slice),
      start: h.start,
      size: h.size,
    }));
}

const overlaps = (a: { start: number; size: number }, b: { start: number; size: number }) =>
  a.start < b.start + b.size && b.start < a.start + a.size;

export function choosePlacement(
  pool: readonly InventoryGpu[],
  held: readonly HeldPart[],
  req: { requestId: string; gpuType: string; profile: string },
  placer: GpuPlacer = fragmentationAwarePlacer,
): PlacementChoice | null {
  const fit = requestFit(req.gpuType, req.profile);
  if (!fit.ok) return null;
  const gpus = pool.filter((g) => g.usable && g.gpuType === req.gpuType && runnableOn(g, req.profile));
  if (fit.kind === null) {
    const layouts: GpuLayout[] = gpus.map((g) => ({
      uuid: g.uuid,
      gpuType: g.gpuType,
      mig: false,
      parts: heldParts(g, held),
    }));
    const p = placer.place(layouts, { allocationId: req.requestId, gpuType: req.gpuType, kind: null });
    const gpu = p && gpus.find((g) => g.uuid === p.uuid);
    return gpu
      ? { gpu, slice: null, start: 0, size: 8, visibleDevice: String(gpu.index), how: 'whole-gpu' }
      : null;
  }
  const kind = fit.kind;

  // 1. An existing instance of this profile that nobody holds: prefer the fullest GPU (pack).
  let existing: { gpu: InventoryGpu; inst: InventoryGpu['migInstances'][number]; used: number } | null = null;
  for (const gpu of gpus) {
    const parts = heldParts(gpu, held);
    const used = parts.reduce((n, p) => n + p.size, 0);
    for (const inst of gpu.migInstances) {
      if (inst.profile !== req.profile || parts.some((p) => overlaps(p, inst))) continue;
      if (!existing || used > existing.used || (used === existing.used && inst.start < existing.inst.start))
        existing = { gpu, inst, used };
    }
  }
  if (existing)
    return {
      gpu: existing.gpu,
      slice: req.profile,
      start: existing.inst.start,
      size: existing.inst.size,
      visibleDevice: existing.inst.uuid ?? `${existing.gpu.uuid}:mig:${req.profile}@${existing.inst.start}`,
      how: 'existing-instance',
    };

  // 2. A new instance beside what exists (unheld instances of other profiles stay where they are).
  const beside: GpuLayout[] = gpus.map((g) => {
    const parts = heldParts(g, held);
    for (const inst of g.migInstances) {
      if (parts.some((p) => overlaps(p, inst))) continue;
      const k = instanceKind(g.gpuType, inst.profile);
      parts.push({ allocationId: `existing:${inst.start}`, kind: k, start: inst.start, size: inst.size });
    }
    return { uuid: g.uuid, gpuType: g.gpuType, mig: true, parts };
  });
  const p2 = placer.place(beside, { allocationId: req.requestId, gpuType: req.gpuType, kind });
  if (p2) return newInstance(gpus, p2.uuid, req.profile, p2.start, p2.size, 'new-instance');

  // 3. Re-layout: only a GPU with nothing allocated; its instances are rebuilt around the slice.
  const idle: GpuLayout[] = gpus
    .filter((g) => heldParts(g, held).length === 0 && g.migInstances.length > 0)
    .map((g) => ({ uuid: g.uuid, gpuType: g.gpuType, mig: true, parts: [] }));
  const p3 = placer.place(idle, { allocationId: req.requestId, gpuType: req.gpuType, kind });
  if (p3) return newInstance(gpus, p3.uuid, req.profile, p3.start, p3.size, 'relayout');
  return null;
}

function newInstance(
  gpus: readonly InventoryGpu[],
  uuid: string,
  profile: string,
  start: number,
  size: number,
  how: 'new-instance' | 'relayout',
): PlacementChoice {
  const gpu = gpus.find((g) => g.uuid === uuid)!;
  return { gpu, slice: profile, start, size, visibleDevice: `${gpu.uuid}:mig:${profile}@${start}`, how };
}
