import {
  AgentRunFinished,
  AgentRunStarted,
  AgentStep,
  createEvent,
  ExecuteCompleted,
  ExecuteStarted,
  GpuAllocated,
  GpuReleased,
  GpuRequested,
  HostHeartbeat,
  KernelDied,
  KernelEvicted,
  KernelRequested,
  KernelStateChanged,
  SandboxExited,
  SandboxStarted,
  SnapshotTaken,
  type EventDefinition,
  type EventEnvelope,
  type KernelState,
} from '@quire/contracts';

/**
 * A simulated platform: hosts heartbeating (one of them lost for a while),
 * kernels going through their lifecycle (RUNNING ⇄ IDLE → HIBERNATED →
 * RESTORE → … → EVICTED, or dying with their host), collaborators running
 * cells, GPU slices, snapshots and agent runs. It emits the events the real
 * producers would, and — independently of billing's code — adds up what
 * should be billed while it simulates: the ground truth.
 *
 * Ground truth rules (README "Metering rules"): CPU (millicore-ms) and memory
 * (byte-ms) while RUNNING/IDLE with the sandbox up, sized by the sandbox's
 * limits; time inside a cell execution goes to the user who ran it, the rest
 * to the kernel's requester; GPU ms from allocation to release; snapshot
 * byte-ms from SnapshotTaken to the next snapshot or eviction; everything
 * stops at a lost host's last heartbeat.
 */
export interface SimulationOptions {
  seed: number;
  /** Prefix of every id, so runs never mix. */
  runId: string;
  startMs: number;
  durationMs: number;
  hosts: number;
  kernels: number;
  orgs: number;
  usersPerOrg: number;
  /** Fraction of kernels on the GPU tier. */
  gpuShare: number;
  agentShare: number;
  /** Heartbeats continue this long after the last kernel activity (must exceed the metering lateness). */
  tailMs: number;
}

export type TruthResource =
  'cpu' | 'memory' | 'gpu' | 'snapshot-storage' | 'agent-tokens' | 'agent-steps' | 'agent-cost';

export interface GroundTruth {
  /** `${org}|${user}|${resource}` → base quantity. */
  byUser: Map<string, bigint>;
  /** `${kernelOrRun}|${resource}` → base quantity. */
  byKernel: Map<string, bigint>;
  /** `${org}|${resource}` → base quantity. */
  byOrg: Map<string, bigint>;
}

export interface Simulation {
  events: EventEnvelope[];
  truth: GroundTruth;
  orgs: string[];
  users: string[];
  lostHost: { hostId: string; lastHeartbeat: number; resumesAt: number };
  endMs: number;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEC = 1000;
const MIN = 60 * SEC;
const GIB = 1024 ** 3;

export function simulate(o: SimulationOptions): Simulation {
  const rnd = mulberry32(o.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const events: EventEnvelope[] = [];
  const truth: GroundTruth = { byUser: new Map(), byKernel: new Map(), byOrg: new Map() };
  const add = (org: string, user: string | null, owner: string, resource: TruthResource, base: bigint) => {
    if (base === 0n) return;
    const inc = (m: Map<string, bigint>, k: string) => m.set(k, (m.get(k) ?? 0n) + base);
    inc(truth.byUser, `${org}|${user ?? ''}|${resource}`);
    inc(truth.byKernel, `${owner}|${resource}`);
    inc(truth.byOrg, `${org}|${resource}`);
  };
  const emit = <D extends EventDefinition>(
    def: D,
    time: number,
    subject: string,
    tenant: string,
    data: Parameters<typeof createEvent<D>>[1]['data'],
  ) => {
    events.push(createEvent(def, { subject, tenant, source: `sim/${o.runId}`, time: new Date(time), data }));
  };

  const orgs = Array.from({ length: o.orgs }, (_, i) => `${o.runId}-org${i}`);
  const usersOf = new Map(
    orgs.map((org, i) => [org, Array.from({ length: o.usersPerOrg }, (_, j) => `${o.runId}-u${i}-${j}`)]),
  );
  const hosts = Array.from({ length: o.hosts }, (_, i) => `${o.runId}-host${i}`);
  const end = o.startMs + o.durationMs;

  // One host is lost for 90 s in the middle of the run (it comes back; its kernels do not).
  const lostHostId = hosts[0]!;
  const lossAround = o.startMs + Math.floor(o.durationMs * 0.45);
  const hbTimes = new Map<string, number[]>();
  let lostLastHb = 0;
  let lostResume = 0;
  for (const h of hosts) {
    const times: number[] = [];
    let t = o.startMs - MIN + int(0, 4999);
    let seq = 0;
    while (t < end + o.tailMs) {
      if (h === lostHostId && t >= lossAround && lostLastHb === 0) {
        lostLastHb = times[times.length - 1]!;
        t = lostLastHb + 90 * SEC;
        lostResume = t;
      }
      times.push(t);
      emit(HostHeartbeat, t, h, 'system', {
        hostId: h,
        seq: seq++,
        capacity: { cpuCores: 32, memoryBytes: 128 * GIB },
        free: { cpuCores: 16, memoryBytes: 64 * GIB },
        sandboxes: 10,
        warmPool: { ready: 2, target: 2 },
        labels: {},
      });
      t += 5000 + int(0, 300);
    }
    hbTimes.set(h, times);
  }
  // Kernels start (or restore) on the lost host only well before the loss (their later phases may
  // still be running when it goes) or after it is back.
  const hostUsable = (h: string, from: number, to: number) =>
    h !== lostHostId || to < lossAround || from > lostResume + MIN;
  const lossCut = (h: string, from: number, to: number): number | null =>
    h === lostHostId && from <= lostLastHb && to > lostLastHb ? lostLastHb : null;

  const cpuChoices = [0.5, 1, 1.5, 2, 4];
  const memChoices = [GIB / 2, GIB, 2 * GIB, 8 * GIB, 3.5 * GIB];
  const gpuTypes = ['a100', 'h100'];
  const slices: (string | null)[] = [null, '1g.10gb', '2g.20gb', '3g.40gb'];

  for (let k = 0; k < o.kernels; k++) {
    const kernelId = `${o.runId}-k${k}`;
    const notebookId = `${o.runId}-nb${k}`;
    const org = pick(orgs);
    const users = usersOf.get(org)!;
    const owner = pick(users);
    const isGpu = rnd() < o.gpuShare;
    const tier = isGpu ? 'gpu' : pick(['free', 'team', 'team', 'enterprise'] as const);
    let t = o.startMs + int(0, Math.max(1, o.durationMs - 70 * MIN));
    const kernelEnd = Math.min(end, t + int(20, 70) * MIN);
    emit(KernelRequested, t, kernelId, org, {
      kernelId,
      notebookId,
      userId: owner,
      tier,
      gpuProfile: isGpu ? '1g.10gb' : null,
    });
    let state: KernelState = 'ABSENT';
    let host = pick(hosts.filter((h) => hostUsable(h, t, kernelEnd)));
    const change = (time: number, to: KernelState, reason: string, hostId: string | null) => {
      emit(KernelStateChanged, time, kernelId, org, {
        kernelId,
        notebookId,
        from: state,
        to,
        reason,
        hostId,
        tier,
      });
      state = to;
    };
    let sandboxN = 0;
    let limits = { millicores: 0n, memoryBytes: 0n };
    const startSandbox = (time: number, h: string) => {
      const cpu = pick(cpuChoices);
      const mem = pick(memChoices);
      limits = { millicores: BigInt(Math.round(cpu * 1000)), memoryBytes: BigInt(mem) };
      sandboxN++;
      emit(SandboxStarted, time, h, org, {
        hostId: h,
        sandboxId: `${kernelId}-sb${sandboxN}`,
        kernelId,
        runtime: 'gvisor',
        fromWarmPool: rnd() < 0.5,
        bootMs: int(50, 900),
        limits: { memoryBytes: mem, cpuQuota: cpu, pids: 1024 },
      });
    };
    // Snapshot storage: the stored snapshot and since when.
    let snapshot = null as { bytes: bigint; since: number } | null;
    const takeSnapshot = (time: number, h: string, trigger: 'hibernate' | 'background') => {
      if (snapshot)
        add(org, owner, kernelId, 'snapshot-storage', snapshot.bytes * BigInt(time - snapshot.since));
      const bytes = int(50, 4000) * 1024 * 1024 + int(0, 999);
      snapshot = { bytes: BigInt(bytes), since: time };
      emit(SnapshotTaken, time, h, org, {
        hostId: h,
        sandboxId: `${kernelId}-sb${sandboxN}`,
        kernelId,
        snapshotId: `${kernelId}-snap${time}`,
        bytes,
        ms: int(100, 2000),
        residentBytes: bytes,
        location: `s3://quire-snapshots/${kernelId}/${time}`,
        trigger,
      });
    };
    /** Bills [a, b) of allocation with executions inside, each charged to its runner. */
    const billAllocation = (a: number, b: number, windows: { s: number; e: number; user: string }[]) => {
      let cursor = a;
      for (const w of windows) {
        const s = Math.max(w.s, a);
        const e = Math.min(w.e, b);
        if (e <= s) continue;
        if (s > cursor) billSlice(cursor, s, owner);
        billSlice(s, e, w.user);
        cursor = e;
      }
      if (cursor < b) billSlice(cursor, b, owner);
    };
    const billSlice = (a: number, b: number, user: string) => {
      const ms = BigInt(b - a);
      add(org, user, kernelId, 'cpu', limits.millicores * ms);
      add(org, user, kernelId, 'memory', limits.memoryBytes * ms);
    };
    let gpu: {
      requestId: string;
      since: number;
      device: string;
      slice: string | null;
      gpuType: string;
      host: string;
    } | null = null;
    let gpuN = 0;
    const gpuWindows: { s: number; e: number; user: string }[] = [];
    const allocGpu = (time: number) => {
      gpuN++;
      const requestId = `${kernelId}-gpu${gpuN}`;
      const gpuType = pick(gpuTypes);
      const slice = pick(slices);
      emit(GpuRequested, time - 50, requestId, org, {
        requestId,
        kernelId,
        gpuType,
        profile: slice ?? 'full',
      });
      gpu = { requestId, since: time, device: `${host}-gpu${int(0, 7)}`, slice, gpuType, host };
      emit(GpuAllocated, time, requestId, org, {
        requestId,
        kernelId,
        hostId: host,
        gpuType,
        device: gpu.device,
        slice,
      });
      gpuWindows.length = 0;
    };
    const releaseGpu = (time: number, billedUntil: number, reason: 'hibernated' | 'died') => {
      if (!gpu) return;
      const g = gpu;
      // GPU time inside executions goes to the runner.
      let cursor = g.since;
      for (const w of gpuWindows) {
        const s = Math.max(w.s, g.since);
        const e = Math.min(w.e, billedUntil);
        if (e <= s) continue;
        if (s > cursor) add(org, owner, kernelId, 'gpu', BigInt(s - cursor));
        add(org, w.user, kernelId, 'gpu', BigInt(e - s));
        cursor = e;
      }
      if (cursor < billedUntil) add(org, owner, kernelId, 'gpu', BigInt(billedUntil - cursor));
      emit(GpuReleased, time, g.requestId, org, {
        requestId: g.requestId,
        kernelId,
        device: g.device,
        slice: g.slice,
        reason,
      });
      gpu = null;
    };

    // Boot.
    change(t + 10, 'PROVISION', 'kernel requested', host);
    startSandbox(t + int(30, 400), host);
    t += int(500, 1500);
    let alive = true;
    let hasAgentRun = rnd() < o.agentShare;
    while (alive) {
      // RUNNING phase with executions.
      change(t, 'RUNNING', 'ready', host);
      if (isGpu && !gpu) allocGpu(t + 200);
      const runEnd = t + int(1, 12) * MIN;
      const windows: { s: number; e: number; user: string }[] = [];
      let c = t + int(100, 20 * SEC);
      let execN = 0;
      while (c < runEnd - 5 * SEC) {
        const user = rnd() < 0.5 ? owner : pick(users);
        const dur = int(50, 90 * SEC);
        const ce = Math.min(c + dur, runEnd - 1000);
        const executionId = `${kernelId}-x${t}-${execN++}`;
        emit(ExecuteStarted, c, kernelId, org, {
          executionId,
          kernelId,
          cellId: `c${execN}`,
          userId: user,
          waitedMs: int(0, 500),
        });
        windows.push({ s: c, e: ce, user });
        // Host loss during the run: the cell ends with the kernel.
        const cut = lossCut(host, c, ce);
        if (cut !== null) {
          windows[windows.length - 1]!.e = cut;
          emit(ExecuteCompleted, cut + 7 * SEC, kernelId, org, {
            executionId,
            kernelId,
            userId: user,
            status: 'kernel_died',
            ms: cut + 7 * SEC - c,
            executionCount: null,
          });
          break;
        }
        emit(ExecuteCompleted, ce, kernelId, org, {
          executionId,
          kernelId,
          userId: user,
          status: 'ok',
          ms: ce - c,
          executionCount: execN,
        });
        c = ce + int(200, 60 * SEC);
      }
      gpuWindows.push(...windows);
      if (hasAgentRun && rnd() < 0.6) {
        hasAgentRun = false;
        const runId = `${kernelId}-run`;
        const user = pick(users);
        const at = t + int(10, 50) * SEC;
        emit(AgentRunStarted, at, runId, org, {
          runId,
          notebookId,
          kernelId,
          userId: user,
          budget: { maxSteps: 50, maxTokens: 200_000, maxCost: '5.00' },
        });
        const steps = int(3, 14);
        for (let s = 1; s <= steps; s++) {
          const prompt = int(200, 6000);
          const completion = int(20, 1500);
          emit(AgentStep, at + s * int(500, 4000), runId, org, {
            runId,
            step: s,
            tokens: { prompt, completion },
            execMs: int(10, 5000),
          });
          add(org, user, runId, 'agent-tokens', BigInt(prompt + completion));
          add(org, user, runId, 'agent-steps', 1n);
        }
        emit(AgentRunFinished, at + (steps + 1) * 4000, runId, org, {
          runId,
          status: 'succeeded',
          steps,
          cost: { amount: '0.42', currency: 'USD' },
        });
        // The run's statement: its cost is charged to the run (in 10⁻⁹ USD).
        add(org, user, runId, 'agent-cost', 420_000_000n);
      }
      // Host lost while RUNNING?
      const loss = lossCut(host, t, runEnd);
      if (loss !== null) {
        billAllocation(t, loss, windows);
        releaseGpu(loss + 8 * SEC, loss, 'died');
        emit(KernelDied, loss + 7 * SEC, kernelId, org, {
          kernelId,
          notebookId,
          reason: 'host_lost',
          message: 'Kernel died (its host stopped answering)',
          cellId: null,
        });
        state = 'DEAD';
        if (snapshot) {
          const ev = loss + int(5, 15) * MIN;
          add(org, owner, kernelId, 'snapshot-storage', snapshot.bytes * BigInt(ev - snapshot.since));
          emit(KernelEvicted, ev, kernelId, org, { kernelId, notebookId, snapshotId: null, idleForS: 600 });
        }
        alive = false;
        break;
      }
      if (rnd() < 0.4) takeSnapshot(t + int(5, 50) * SEC, host, 'background');
      billAllocation(t, runEnd, windows);
      t = runEnd;
      // IDLE phase.
      change(t, 'IDLE', 'no activity', host);
      const idleEnd = t + int(1, 8) * MIN;
      const idleLoss = lossCut(host, t, idleEnd);
      if (idleLoss !== null) {
        billAllocation(t, idleLoss, []);
        releaseGpu(idleLoss + 8 * SEC, idleLoss, 'died');
        emit(KernelDied, idleLoss + 7 * SEC, kernelId, org, {
          kernelId,
          notebookId,
          reason: 'host_lost',
          message: 'Kernel died (its host stopped answering)',
          cellId: null,
        });
        state = 'DEAD';
        if (snapshot) {
          const ev = idleLoss + int(5, 15) * MIN;
          add(org, owner, kernelId, 'snapshot-storage', snapshot.bytes * BigInt(ev - snapshot.since));
          emit(KernelEvicted, ev, kernelId, org, { kernelId, notebookId, snapshotId: null, idleForS: 600 });
        }
        break;
      }
      billAllocation(t, idleEnd, []);
      t = idleEnd;
      if (rnd() < 0.35 && t < kernelEnd) continue; // back to RUNNING
      // Hibernate.
      if (gpu) releaseGpu(t - 100, t - 100, 'hibernated');
      takeSnapshot(t - 300, host, 'hibernate');
      change(t, 'HIBERNATED', 'idle timeout', null);
      emit(SandboxExited, t + 50, host, org, {
        hostId: host,
        sandboxId: `${kernelId}-sb${sandboxN}`,
        kernelId,
        reason: 'shutdown',
        exitCode: 0,
        signal: null,
        message: 'checkpointed',
      });
      t += int(2, 25) * MIN;
      if (t < kernelEnd) {
        // Restore, maybe on another host.
        host = pick(hosts.filter((h) => hostUsable(h, t, t + 20 * MIN)));
        change(t, 'RESTORE', 'user returned', host);
        startSandbox(t + int(50, 300), host);
        t += int(400, 1200);
        continue;
      }
      // Evict.
      add(org, owner, kernelId, 'snapshot-storage', snapshot!.bytes * BigInt(t - snapshot!.since));
      snapshot = null;
      emit(KernelEvicted, t, kernelId, org, {
        kernelId,
        notebookId,
        snapshotId: `${kernelId}-snap`,
        idleForS: 900,
      });
      change(t + 5, 'EVICTED', 'eviction timer', null);
      alive = false;
    }
  }
  events.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  return {
    events,
    truth,
    orgs,
    users: [...usersOf.values()].flat(),
    lostHost: { hostId: lostHostId, lastHeartbeat: lostLastHb, resumesAt: lostResume },
    endMs: end + o.tailMs,
  };
}

/**
 * The order and multiplicity in which the simulated producers deliver: a
 * share of events sent again later (as a producer retry would), a share held
 * back and delivered out of order.
 */
export function deliveryPlan(
  events: readonly EventEnvelope[],
  seed: number,
  o: { duplicateShare: number; outOfOrderShare: number; maxDisplacement: number },
): { plan: EventEnvelope[]; duplicated: number; displaced: number } {
  const rnd = mulberry32(seed);
  const slots: { pos: number; e: EventEnvelope }[] = [];
  let duplicated = 0;
  let displaced = 0;
  events.forEach((e, i) => {
    let pos = i;
    if (rnd() < o.outOfOrderShare) {
      pos = i + 1 + Math.floor(rnd() * o.maxDisplacement);
      displaced++;
    }
    slots.push({ pos: pos + rnd() * 0.5, e });
    if (rnd() < o.duplicateShare) {
      slots.push({ pos: i + Math.floor(rnd() * o.maxDisplacement) + 0.75, e });
      duplicated++;
    }
  });
  slots.sort((a, b) => a.pos - b.pos);
  return { plan: slots.map((s) => s.e), duplicated, displaced };
}
