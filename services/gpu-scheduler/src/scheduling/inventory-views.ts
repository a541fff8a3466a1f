import type { GpuInventoryDto, GpuOfferDto, GpuOfferItem } from '@quire/contracts';
import { migProfilesOf } from '../placement/mig-profiles';
import type { GpuScheduler, PoolView } from './gpu-scheduler';
import { choosePlacement, runnableOn, type HeldPart } from './placement-choice';
import { orderQueue } from './queue-policy';

/**
 * Read views over the scheduler's state: the org's offer for the editor's
 * compute picker, and the whole inventory for SREs.
 */
export class InventoryViews {
  constructor(private readonly scheduler: GpuScheduler) {}

  async offer(tenant: string): Promise<GpuOfferDto> {
    const items: GpuOfferItem[] = [];
    for (const gpuType of await this.scheduler.poolTypes()) {
      const view = await this.scheduler.poolView(gpuType);
      const present = view.gpus.filter((g) => g.usable);
      if (!present.length) continue;
      const name = modelLabel(present[0]!.model ?? gpuType, gpuType);
      const profiles: string[] = [];
      if (present.some((g) => g.migMode !== 'enabled')) profiles.push('full');
      if (present.some((g) => g.migMode === 'enabled'))
        profiles.push(...migProfilesOf(gpuType).filter((p) => !p.includes('+')));
      for (const profile of profiles) {
        const runnable = present.some((g) => runnableOn(g, profile));
        const reason = present.find((g) => g.sandbox.reason)?.sandbox.reason ?? null;
        items.push({
          gpuType,
          profile,
          label: profile === 'full' ? name : `${profile} slice of an ${name}`,
          free: runnable ? freeCount(view, gpuType, profile) : 0,
          queued: view.queued.filter((q) => q.row.profile === profile).length,
          runnable,
          note: runnable
            ? null
            : profile === 'full'
              ? `no host here can hand a whole GPU to a gVisor sandbox${reason ? `: ${reason}` : ''}`
              : `MIG slices cannot be handed to a gVisor sandbox on these hosts${reason ? `: ${reason}` : ' (nvproxy has no /dev/nvidia-caps)'}`,
        });
      }
    }
    return { tenant, items };
  }

  async inventory(): Promise<GpuInventoryDto> {
    const out: GpuInventoryDto = { gpus: [], queue: [] };
    for (const gpuType of await this.scheduler.poolTypes()) {
      const view = await this.scheduler.poolView(gpuType);
      for (const g of view.gpus) {
        const held = view.held.filter((h) => h.device === g.uuid);
        const parts: GpuInventoryDto['gpus'][number]['parts'] = held.map((h) => ({
          profile: h.slice ?? 'full',
          start: h.slice === null ? null : h.start,
          size: h.size,
          requestId: h.requestId,
          kernelId: h.kernelId,
        }));
        for (const inst of g.migInstances)
          if (!held.some((h) => h.start < inst.start + inst.size && inst.start < h.start + h.size))
            parts.push({
              profile: inst.profile,
              start: inst.start,
              size: inst.size,
              requestId: null,
              kernelId: null,
            });
        if (g.migMode !== 'enabled' && held.length === 0)
          parts.push({ profile: 'full', start: null, size: 8, requestId: null, kernelId: null });
        out.gpus.push({
          hostId: g.hostId,
          uuid: g.uuid,
          gpuType,
          model: g.model ?? g.gpuType,
          migMode: g.migMode,
          parts: parts.sort((a, b) => (a.start ?? 0) - (b.start ?? 0)),
        });
      }
      const order = orderQueue(view.queued, view.heldByTenant);
      for (const [i, q] of order.entries()) {
        const pos = this.scheduler.positionIn(view, q.requestId, Date.now());
        out.queue.push({
          requestId: q.requestId,
          kernelId: q.row.kernel_id,
          tenant: q.tenant,
          gpuType,
          profile: q.row.profile,
          position: i + 1,
          etaS: pos.etaS,
        });
      }
    }
    return out;
  }
}

/** How many more of `profile` fit right now (placed one after another, fragmentation-aware). */
function freeCount(view: PoolView, gpuType: string, profile: string): number {
  const held: HeldPart[] = view.held.map((h) => ({ ...h }));
  let n = 0;
  for (; n < 64; n++) {
    const c = choosePlacement(view.gpus, held, { requestId: `probe-${n}`, gpuType, profile });
    if (!c) break;
    held.push({ requestId: `probe-${n}`, device: c.gpu.uuid, start: c.start, size: c.size, slice: c.slice });
  }
  return n;
}

/** `NVIDIA H100 80GB HBM3` → `H100 80GB`; else the type key. */
export function modelLabel(model: string, gpuType: string): string {
  const m =
    /^(?:NVIDIA\s+)?(?:Tesla\s+)?([A-Z]+\d+[A-Z]*)(?:\s+(?:NVL|PCIe|SXM\d?))?(?:\s+(\d+\s?GB))?/i.exec(model);
  if (m?.[1]) return m[2] ? `${m[1]} ${m[2].replace(/\s/g, '')}` : m[1];
  return gpuType;
}
