import type { EventEnvelope } from '@quire/contracts';

/**
 * The kernel registry as a read model of host.events.v1: which hosts are
 * alive (heartbeats), what they have free, and which kernels live where
 * (SandboxStarted, SnapshotRestored, SandboxExited). Rebuilt by replaying the
 * stream; applying an event twice changes nothing (heartbeats are keyed by
 * seq, placements are plain assignments).
 *
 * Time is the event's own `time` (the host's clock), so replaying old events
 * never makes a long-gone host look alive.
 */
export interface HostView {
  hostId: string;
  apiUrl: string | null;
  lastHeartbeatAt: number;
  seq: number;
  capacity: { cpuCores: number; memoryBytes: number };
  free: { cpuCores: number; memoryBytes: number };
  warmPool: { ready: number; target: number };
  labels: Record<string, string>;
  /** We saw it alive while watching live (not just in a replay), so its loss is news. */
  seenAlive: boolean;
  lostDeclared: boolean;
  /** GPUs as the heartbeat reported them (uuid → whether cuda-checkpoint works there). */
  gpus?: { uuid: string; cudaCheckpoint: boolean }[];
}

export interface HostLost {
  hostId: string;
  lastSeq: number;
  lastHeartbeatAt: number;
  kernels: string[];
}

export class HostRegistry {
  readonly hosts = new Map<string, HostView>();
  /** kernelId → hostId where it runs or is hibernated. */
  readonly kernelHost = new Map<string, string>();
  /** Memory promised by placements since the host's last heartbeat. */
  private readonly reserved = new Map<string, { bytes: number; at: number }[]>();
  /** New kernels per host: timestamps, for the warm pool autoscaler. */
  readonly creations = new Map<string, number[]>();

  constructor(
    readonly lostAfterMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether GPU memory on this host's device survives hibernation (false when unknown: be honest). */
  gpuCheckpoint(hostId: string, device: string): boolean {
    return this.hosts.get(hostId)?.gpus?.find((g) => g.uuid === device)?.cudaCheckpoint ?? false;
  }

  apply(e: EventEnvelope): void {
    const d = e.data as Record<string, unknown>;
    const at = Date.parse(e.time);
    switch (e.type) {
      case 'quire.host.HostHeartbeat': {
        const hostId = String(d.hostId);
        const prev = this.hosts.get(hostId);
        if (prev && at < prev.lastHeartbeatAt) return; // older than what we know
        const view: HostView = {
          hostId,
          apiUrl: (d.apiUrl as string | undefined) ?? prev?.apiUrl ?? null,
          lastHeartbeatAt: at,
          seq: Number(d.seq),
          capacity: d.capacity as HostView['capacity'],
          free: d.free as HostView['free'],
          warmPool: d.warmPool as HostView['warmPool'],
          labels: (d.labels as Record<string, string>) ?? {},
          gpus: ((d.gpus as { uuid?: unknown; cudaCheckpoint?: unknown }[] | undefined) ?? []).map((g) => ({
            uuid: String(g.uuid),
            cudaCheckpoint: g.cudaCheckpoint === true,
          })),
          seenAlive: (prev?.seenAlive ?? false) || this.now() - at < this.lostAfterMs,
          lostDeclared: prev?.lostDeclared === true && prev.lastHeartbeatAt >= at,
        };
        this.hosts.set(hostId, view);
        // The heartbeat's free figures include every placement made before it.
        this.reserved.set(
          hostId,
          (this.reserved.get(hostId) ?? []).filter((r) => r.at > at),
        );
        return;
      }
      case 'quire.host.SandboxStarted':
        if (d.kernelId) {
          this.kernelHost.set(String(d.kernelId), String(d.hostId));
          const list = this.creations.get(String(d.hostId)) ?? [];
          list.push(at);
          this.creations.set(String(d.hostId), list.slice(-10_000));
        }
        return;
      case 'quire.host.SnapshotRestored':
        this.kernelHost.set(String(d.kernelId), String(d.hostId));
        return;
      case 'quire.host.SandboxExited':
        if (d.kernelId && this.kernelHost.get(String(d.kernelId)) === String(d.hostId))
          this.kernelHost.delete(String(d.kernelId));
        return;
      default:
        return;
    }
  }

  /** An allocation the host has not reported yet. */
  reserve(hostId: string, bytes: number): void {
    const list = this.reserved.get(hostId) ?? [];
    list.push({ bytes, at: this.now() });
    this.reserved.set(hostId, list);
  }

  placed(kernelId: string, hostId: string): void {
    this.kernelHost.set(kernelId, hostId);
  }

  alive(h: HostView): boolean {
    return this.now() - h.lastHeartbeatAt < this.lostAfterMs;
  }

  freeMemory(h: HostView): number {
    const reserved = (this.reserved.get(h.hostId) ?? []).reduce((s, r) => s + r.bytes, 0);
    return h.free.memoryBytes - reserved;
  }

  aliveHosts(): HostView[] {
    return [...this.hosts.values()].filter((h) => this.alive(h));
  }

  kernelsOn(hostId: string): string[] {
    return [...this.kernelHost.entries()].filter(([, h]) => h === hostId).map(([k]) => k);
  }

  /** Hosts that went silent since we last looked; each is reported once per silence. */
  detectLost(): HostLost[] {
    const lost: HostLost[] = [];
    for (const h of this.hosts.values()) {
      if (this.alive(h)) {
        h.seenAlive = true;
        continue;
      }
      if (!h.seenAlive || h.lostDeclared) continue;
      h.lostDeclared = true;
      lost.push({
        hostId: h.hostId,
        lastSeq: h.seq,
        lastHeartbeatAt: h.lastHeartbeatAt,
        kernels: this.kernelsOn(h.hostId),
      });
    }
    return lost;
  }
}
