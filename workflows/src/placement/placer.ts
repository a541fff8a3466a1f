import type { PlaceRequest, PlaceResult } from '../workflows/lifecycle-activities';
import type { HostRegistry, HostView } from './host-registry';

export interface PlacerOptions {
  /** Below this share of free memory across eligible hosts, new kernels queue (admission control). */
  minHeadroom: number;
  /** ETA given to a queued kernel when no capacity is in sight. */
  queueEtaS: number;
  /** Platform-wide ceiling of kernel creations per tenant per minute (token bucket); tiers may ask for less. */
  creationsPerTenantPerMinute: number;
}

export const DEFAULT_PLACER_OPTIONS: PlacerOptions = {
  minHeadroom: 0.2,
  queueEtaS: 30,
  creationsPerTenantPerMinute: 30,
};

/**
 * Chooses a host for a kernel from the registry: alive, carrying every label
 * the kernel asks for (data residency, GPU profile), with the most free
 * memory (then CPU) after what was promised since its last heartbeat.
 * Admission control: when the eligible hosts together have less than
 * `minHeadroom` of their memory free, new kernels queue with an ETA instead of
 * failing; restores are not held back (they bring back a user who is waiting).
 * Per-tenant rate limit on creations, a token bucket per process.
 */
export class Placer {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly registry: HostRegistry,
    private readonly opts: PlacerOptions = DEFAULT_PLACER_OPTIONS,
    private readonly now: () => number = Date.now,
  ) {}

  private takeToken(tenant: string, rate: number): { ok: true } | { ok: false; etaS: number } {
    const perMs = rate / 60_000;
    const t = this.now();
    const b = this.buckets.get(tenant) ?? { tokens: rate, at: t };
    b.tokens = Math.min(rate, b.tokens + (t - b.at) * perMs);
    b.at = t;
    this.buckets.set(tenant, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, etaS: Math.ceil((1 - b.tokens) / perMs / 1000) };
  }

  place(req: PlaceRequest): PlaceResult {
    const eligible = this.registry
      .aliveHosts()
      .filter((h) => h.apiUrl !== null && !req.excludeHosts.includes(h.hostId))
      // A GPU kernel goes where the gpu-scheduler allocated its device, nowhere else.
      .filter((h) => req.requireHost === undefined || h.hostId === req.requireHost)
      .filter((h) => Object.entries(req.labels).every(([k, v]) => h.labels[k] === v));
    if (eligible.length === 0) {
      const labels = Object.entries(req.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      return {
        placed: false,
        reason: req.requireHost
          ? `the GPU's host ${req.requireHost} is not live`
          : `no live host${labels ? ` with labels ${labels}` : ''}`,
        etaS: this.opts.queueEtaS,
      };
    }
    const fits = (h: HostView) => this.registry.freeMemory(h) >= req.memoryBytes;
    const preferred = req.preferHost
      ? eligible.find((h) => h.hostId === req.preferHost && fits(h))
      : undefined;
    // A GPU kernel was admitted by the gpu-scheduler (quotas, fair share) and its device is held
    // (and billed) from now: no second queue here, only the memory check below.
    if (req.creation && req.requireHost === undefined) {
      const capacity = eligible.reduce((s, h) => s + h.capacity.memoryBytes, 0);
      const free = eligible.reduce((s, h) => s + Math.max(0, this.registry.freeMemory(h)), 0);
      if (capacity > 0 && (free - req.memoryBytes) / capacity < this.opts.minHeadroom) {
        return {
          placed: false,
          reason: `capacity below ${Math.round(this.opts.minHeadroom * 100)}% headroom`,
          etaS: this.opts.queueEtaS,
        };
      }
      const token = this.takeToken(
        req.tenant,
        Math.min(req.creationsPerMinute, this.opts.creationsPerTenantPerMinute),
      );
      if (!token.ok)
        return {
          placed: false,
          reason: `tenant ${req.tenant} is over its kernel-creation rate`,
          etaS: token.etaS,
        };
    }
    const best =
      preferred ??
      eligible
        .filter(fits)
        .sort(
          (a, b) =>
            this.registry.freeMemory(b) - this.registry.freeMemory(a) || b.free.cpuCores - a.free.cpuCores,
        )[0];
    if (!best) return { placed: false, reason: 'no host has enough free memory', etaS: this.opts.queueEtaS };
    this.registry.reserve(best.hostId, req.memoryBytes);
    return { placed: true, hostId: best.hostId, apiUrl: best.apiUrl! };
  }
}
