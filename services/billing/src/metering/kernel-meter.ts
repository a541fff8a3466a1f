import { agentRunOfFork, meterForkKernel } from './fork-meter';
import { firstDead, type HostLiveness } from './host-liveness';
import {
  addUsage,
  byTimeThenId,
  HOUR_MS,
  hourOf,
  type JournalEvent,
  type JournalEventRef,
  type UsageDims,
  type UsageMap,
} from './usage';

/**
 * Meters one kernel from all of its events (lifecycle, sandbox, snapshot,
 * execution and GPU events), sorted by event time. A pure function of the
 * event set: arrival order, duplicates (removed at the sink) and restarts do
 * not change the answer, which is what makes the ledger rebuildable.
 *
 * Rules (README "Metering rules"):
 * - CPU and memory accrue while the lifecycle state is RUNNING or IDLE and
 *   the kernel's sandbox is up; size = the limits of its latest SandboxStarted
 *   (before the first one: the first one's; none at all: the tier default).
 * - An interval ends at the next lifecycle event, at the exit of the current
 *   sandbox, or at host loss (the last heartbeat), whichever is first; after a
 *   host loss nothing accrues until the next lifecycle event. An interval with
 *   no end yet accrues up to the watermark.
 * - GPU time accrues per allocation (request id) from GpuAllocated to
 *   GpuReleased, or host loss, or the watermark.
 * - Snapshot storage accrues from SnapshotTaken until the next snapshot of the
 *   kernel (which replaces it) or KernelEvicted.
 * - Time inside a cell execution (ExecuteStarted → ExecuteCompleted) is
 *   charged to the user who ran it; the rest to the user who requested the
 *   kernel. Snapshot storage always to the requester.
 * - Time inside an agent's execution (ExecuteRequested origin `agent`) is the
 *   kernel's allocation like its idle time: charged to the kernel's requester
 *   (with the execution and cell ids on the row), never to the user the agent
 *   works for. The kernel costs the same whether a cell runs or not; the
 *   run's own charges are its tokens and LLM cost (agent-meter.ts).
 */
export type Tier = 'free' | 'team' | 'gpu' | 'enterprise';

export interface Limits {
  millicores: bigint;
  memoryBytes: bigint;
}

export interface KernelMeterParams {
  watermark: number;
  hostLossAfterMs: number;
  tierDefaults: (tier: Tier, time: number) => Limits;
}

export interface HostSpan {
  hostId: string;
  start: number;
  end: number | null;
}

export interface KernelMeterResult {
  orgId: string | null;
  usage: UsageMap;
  spans: HostSpan[];
  /** Recompute when the watermark passes this (open intervals, a possible host loss); null: final. */
  recheckAfterW: number | null;
}

const T = {
  requested: 'quire.kernel.KernelRequested',
  stateChanged: 'quire.kernel.KernelStateChanged',
  died: 'quire.kernel.KernelDied',
  evicted: 'quire.kernel.KernelEvicted',
  sandboxStarted: 'quire.host.SandboxStarted',
  sandboxExited: 'quire.host.SandboxExited',
  snapshotTaken: 'quire.host.SnapshotTaken',
  execRequested: 'quire.exec.ExecuteRequested',
  execStarted: 'quire.exec.ExecuteStarted',
  execCompleted: 'quire.exec.ExecuteCompleted',
  gpuAllocated: 'quire.gpu.GpuAllocated',
  gpuReleased: 'quire.gpu.GpuReleased',
} as const;

/** Types whose envelope tenant is the kernel's org (host events may carry `system`). */
const ORG_SOURCES = new Set<string>([
  T.requested,
  T.stateChanged,
  T.died,
  T.evicted,
  T.execStarted,
  T.execCompleted,
  T.gpuAllocated,
  T.gpuReleased,
]);

const BILLED_STATES = new Set(['RUNNING', 'IDLE']);

interface Part {
  start: number;
  end: number;
  /** Events that opened the part at `start`, and that closed it at `end`. */
  startEvs: JournalEventRef[];
  endEvs: JournalEventRef[];
}

function part(
  start: number,
  end: number,
  startEv?: JournalEventRef | null,
  endEv?: JournalEventRef | null,
): Part {
  return { start, end, startEvs: startEv ? [startEv] : [], endEvs: endEv ? [endEv] : [] };
}

const edgeEvents = (p: Part): JournalEventRef[] => [...p.startEvs, ...p.endEvs];

interface Transition {
  ev: JournalEvent;
  state: string;
  hostId: string | null;
  tier: Tier;
}

interface SandboxStatus {
  time: number;
  ev: JournalEvent | null;
  alive: boolean;
  limits: Limits | null;
  sandboxId: string | null;
  hostId: string | null;
}

interface ExecWindow {
  start: number;
  end: number;
  userId: string | null;
  executionId: string;
  cellId: string | null;
  /** An agent's run (ExecuteRequested origin `agent`): its time stays the kernel's own (see attribute). */
  byAgent: boolean;
  startEv?: JournalEventRef;
  endEv?: JournalEventRef;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

export function meterKernel(
  kernelId: string,
  unsorted: readonly JournalEvent[],
  hosts: ReadonlyMap<string, HostLiveness>,
  p: KernelMeterParams,
): KernelMeterResult {
  const forkOf = agentRunOfFork(kernelId);
  if (forkOf !== null) return meterForkKernel(kernelId, forkOf, unsorted, hosts, p);
  const events = [...unsorted].sort(byTimeThenId);
  const W = p.watermark;
  const usage: UsageMap = new Map();
  const spans: HostSpan[] = [];
  let recheck: number | null = null;
  const needRecheck = (w: number | null) => {
    if (w !== null) recheck = recheck === null ? w : Math.min(recheck, w);
  };

  let orgId: string | null = null;
  let notebookId: string | null = null;
  let owner: string | null = null;
  let requestedTier: Tier | null = null;
  for (const e of events) {
    if (ORG_SOURCES.has(e.type)) orgId ??= e.tenant;
    if (e.type === T.requested || e.type === T.stateChanged || e.type === T.died || e.type === T.evicted) {
      notebookId ??= str(e.data.notebookId);
    }
    if (e.type === T.requested && owner === null) {
      owner = str(e.data.userId);
      requestedTier = (str(e.data.tier) as Tier | null) ?? null;
    }
  }
  if (orgId === null) return { orgId: null, usage, spans, recheckAfterW: null };
  const org = orgId;

  // Lifecycle transitions.
  const transitions: Transition[] = [];
  let host: string | null = null;
  let tier: Tier = requestedTier ?? 'free';
  for (const e of events) {
    if (e.type === T.stateChanged) {
      host = str(e.data.hostId);
      tier = (str(e.data.tier) as Tier | null) ?? tier;
      transitions.push({ ev: e, state: String(e.data.to), hostId: host, tier });
    } else if (e.type === T.died) {
      transitions.push({ ev: e, state: 'DEAD', hostId: host, tier });
    } else if (e.type === T.evicted) {
      transitions.push({ ev: e, state: 'EVICTED', hostId: host, tier });
    }
  }
  const tierAt = (t: number): Tier => {
    let current: Tier = requestedTier ?? transitions[0]?.tier ?? 'free';
    for (const tr of transitions) {
      if (tr.ev.time > t) break;
      current = tr.tier;
    }
    return current;
  };

  // Sandbox status over time.
  const statuses: SandboxStatus[] = [];
  let firstLimits: Limits | null = null;
  let cur: SandboxStatus = {
    time: -Infinity,
    ev: null,
    alive: true,
    limits: null,
    sandboxId: null,
    hostId: null,
  };
  for (const e of events) {
    if (e.type === T.sandboxStarted) {
      const lim = e.data.limits as { memoryBytes?: unknown; cpuQuota?: unknown } | undefined;
      const limits: Limits = {
        millicores: BigInt(Math.round(num(lim?.cpuQuota) * 1000)),
        memoryBytes: BigInt(num(lim?.memoryBytes)),
      };
      firstLimits ??= limits;
      cur = {
        time: e.time,
        ev: e,
        alive: true,
        limits,
        sandboxId: str(e.data.sandboxId),
        hostId: str(e.data.hostId),
      };
      statuses.push(cur);
    } else if (
      e.type === T.sandboxExited &&
      cur.sandboxId !== null &&
      str(e.data.sandboxId) === cur.sandboxId
    ) {
      cur = { ...cur, time: e.time, ev: e, alive: false };
      statuses.push(cur);
    }
  }
  const statusAt = (t: number): SandboxStatus => {
    let s: SandboxStatus = {
      time: -Infinity,
      ev: null,
      alive: true,
      limits: null,
      sandboxId: null,
      hostId: null,
    };
    for (const st of statuses) {
      if (st.time > t) break;
      s = st;
    }
    return s;
  };

  // Execution windows (per-cell attribution).
  const windows = executionWindows(events);
  const dimsFor = (
    resource: UsageDims['resource'],
    sku: string,
    periodStart: number,
    who: Attribution,
  ): UsageDims => ({
    periodStart,
    orgId: org,
    userId: who.userId,
    notebookId,
    kernelId,
    executionId: who.executionId,
    cellId: who.cellId,
    agentRunId: null,
    resource,
    sku,
    chargeTo: 'org',
  });

  // CPU and memory.
  for (let i = 0; i < transitions.length; i++) {
    const tr = transitions[i]!;
    if (!BILLED_STATES.has(tr.state)) continue;
    const next = transitions[i + 1];
    const s = tr.ev.time;
    const end0 = next ? next.ev.time : null;
    if (end0 === null) needRecheck(W);
    const e = end0 ?? W;
    const hostId = tr.hostId ?? statusAt(s).hostId;
    if (hostId !== null) spans.push({ hostId, start: s, end: end0 });
    if (e <= s) continue;
    const dead = hostId !== null ? firstDead(hosts.get(hostId), s, e, W, p.hostLossAfterMs) : null;
    needRecheck(dead?.recheckAfterW ?? null);
    const end = Math.min(e, dead?.at ?? Infinity);
    if (end <= s) continue;
    const endEv = end === end0 && next ? next.ev : undefined;
    // Split where the sandbox starts or exits.
    const cuts = statuses.filter((st) => st.time > s && st.time < end);
    let at = s;
    let status = statusAt(s);
    let startEv: JournalEventRef | undefined = tr.ev;
    for (let c = 0; c <= cuts.length; c++) {
      const cut = cuts[c];
      const until = cut ? cut.time : end;
      if (status.alive && until > at) {
        const limits = status.limits ?? firstLimits ?? p.tierDefaults(tr.tier, at);
        const alloc = part(at, until, startEv, cut ? cut.ev : endEv);
        for (const [piece, who] of attribute(alloc, windows, owner)) {
          for (const h of byHour(piece)) {
            const ms = BigInt(h.end - h.start);
            const evs = edgeEvents(h);
            addUsage(
              usage,
              dimsFor('cpu', `cpu/${tr.tier}`, hourOf(h.start), who),
              limits.millicores * ms,
              evs,
            );
            addUsage(
              usage,
              dimsFor('memory', `memory/${tr.tier}`, hourOf(h.start), who),
              limits.memoryBytes * ms,
              evs,
            );
          }
        }
      }
      if (cut) {
        at = cut.time;
        status = cut;
        startEv = cut.ev ?? undefined;
      }
    }
  }

  // GPU allocations.
  const allocations = pairByKey(events, T.gpuAllocated, T.gpuReleased, 'requestId');
  for (const [, { start: alloc, end: release }] of [...allocations].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    if (!alloc) continue;
    const s = alloc.time;
    const end0 = release ? release.time : null;
    if (end0 === null) needRecheck(W);
    const e = end0 ?? W;
    const hostId = str(alloc.data.hostId);
    if (hostId !== null) spans.push({ hostId, start: s, end: end0 });
    if (e <= s) continue;
    const dead = hostId !== null ? firstDead(hosts.get(hostId), s, e, W, p.hostLossAfterMs) : null;
    needRecheck(dead?.recheckAfterW ?? null);
    const end = Math.min(e, dead?.at ?? Infinity);
    if (end <= s) continue;
    const sku = `gpu/${str(alloc.data.gpuType) ?? 'unknown'}/${str(alloc.data.slice) ?? 'full'}`;
    const gpu = part(s, end, alloc, end === end0 ? release : undefined);
    for (const [piece, who] of attribute(gpu, windows, owner)) {
      for (const h of byHour(piece)) {
        addUsage(usage, dimsFor('gpu', sku, hourOf(h.start), who), BigInt(h.end - h.start), edgeEvents(h));
      }
    }
  }

  // Snapshot storage: one stored snapshot per kernel, replaced by the next, deleted at eviction.
  const snapshots = events.filter((e) => e.type === T.snapshotTaken);
  const evictions = events.filter((e) => e.type === T.evicted);
  for (let i = 0; i < snapshots.length; i++) {
    const snap = snapshots[i]!;
    const s = snap.time;
    const nextSnap = snapshots[i + 1];
    const eviction = evictions.find((ev) => ev.time >= s);
    const ender =
      nextSnap && eviction ? (nextSnap.time <= eviction.time ? nextSnap : eviction) : (nextSnap ?? eviction);
    const end0 = ender ? ender.time : null;
    if (end0 === null) needRecheck(W);
    const end = end0 ?? W;
    if (end <= s) continue;
    const bytes = BigInt(num(snap.data.bytes));
    const t0 = tierAt(s);
    for (const h of byHour(part(s, end, snap, end === end0 ? ender : undefined))) {
      addUsage(
        usage,
        dimsFor('snapshot-storage', `snapshot-storage/${t0}`, hourOf(h.start), {
          userId: owner,
          executionId: null,
          cellId: null,
        }),
        bytes * BigInt(h.end - h.start),
        edgeEvents(h),
      );
    }
  }

  return { orgId: org, usage, spans, recheckAfterW: recheck };
}

interface Attribution {
  userId: string | null;
  executionId: string | null;
  cellId: string | null;
}

export function executionWindows(events: readonly JournalEvent[]): ExecWindow[] {
  const byId = pairByKey(events, T.execStarted, T.execCompleted, 'executionId');
  const agentRuns = new Set<string>();
  for (const e of events) {
    if (e.type === T.execRequested && e.data.origin === 'agent' && typeof e.data.executionId === 'string')
      agentRuns.add(e.data.executionId);
  }
  const raw: ExecWindow[] = [];
  for (const [executionId, { start: started, end: completed }] of byId) {
    const start = started ? started.time : completed!.time - Math.floor(num(completed!.data.ms));
    const end = completed ? completed.time : Infinity;
    raw.push({
      start,
      end,
      executionId,
      userId: str(started?.data.userId) ?? str(completed?.data.userId),
      cellId: str(started?.data.cellId),
      byAgent: agentRuns.has(executionId),
      ...(started ? { startEv: started } : {}),
      ...(completed ? { endEv: completed } : {}),
    });
  }
  raw.sort((a, b) => a.start - b.start || (a.executionId < b.executionId ? -1 : 1));
  // One execution at a time per kernel: a window ends at the next one's start at the latest.
  const out: ExecWindow[] = [];
  for (let i = 0; i < raw.length; i++) {
    const w = raw[i]!;
    const next = raw[i + 1];
    const end = next ? Math.min(w.end, next.start) : w.end;
    if (end > w.start) out.push({ ...w, end, ...(end === w.end ? {} : { endEv: undefined }) });
  }
  return out;
}

/** Splits a part into the pieces inside executions (charged to the runner) and outside (the owner). */
export function attribute(
  whole: Part,
  windows: readonly ExecWindow[],
  owner: string | null,
): [Part, Attribution][] {
  const out: [Part, Attribution][] = [];
  const ownerWho: Attribution = { userId: owner, executionId: null, cellId: null };
  const piece = (start: number, end: number, startEv?: JournalEventRef, endEv?: JournalEventRef): Part => ({
    start,
    end,
    startEvs: [...(start === whole.start ? whole.startEvs : []), ...(startEv ? [startEv] : [])],
    endEvs: [...(end === whole.end ? whole.endEvs : []), ...(endEv ? [endEv] : [])],
  });
  let cursor = whole.start;
  for (const w of windows) {
    if (w.end <= whole.start) continue;
    if (w.start >= whole.end) break;
    const ws = Math.max(w.start, whole.start);
    const we = Math.min(w.end, whole.end);
    if (ws > cursor) out.push([piece(cursor, ws), ownerWho]);
    out.push([
      piece(ws, we, ws === w.start ? w.startEv : undefined, we === w.end ? w.endEv : undefined),
      { userId: w.byAgent ? owner : w.userId, executionId: w.executionId, cellId: w.cellId },
    ]);
    cursor = we;
  }
  if (cursor < whole.end) out.push([piece(cursor, whole.end), ownerWho]);
  return out;
}

/** Splits a part at UTC hour boundaries; edge events stay with the piece at their edge. */
export function byHour(whole: Part): Part[] {
  const out: Part[] = [];
  for (let h = hourOf(whole.start); h < whole.end; h += HOUR_MS) {
    const start = Math.max(whole.start, h);
    const end = Math.min(whole.end, h + HOUR_MS);
    if (end <= start) continue;
    out.push({
      start,
      end,
      startEvs: start === whole.start ? whole.startEvs : [],
      endEvs: end === whole.end ? whole.endEvs : [],
    });
  }
  return out;
}

/**
 * The first start and the first end event of each id (GPU request, execution):
 * duplicates and later copies are ignored, whatever order they arrived in.
 */
function pairByKey(
  events: readonly JournalEvent[],
  startType: string,
  endType: string,
  idField: string,
): Map<string, { start?: JournalEvent; end?: JournalEvent }> {
  const pairs = new Map<string, { start?: JournalEvent; end?: JournalEvent }>();
  for (const e of events) {
    if (e.type !== startType && e.type !== endType) continue;
    const id = str(e.data[idField]);
    if (!id) continue;
    const pair = pairs.get(id) ?? {};
    if (e.type === startType) pair.start ??= e;
    else pair.end ??= e;
    pairs.set(id, pair);
  }
  return pairs;
}
