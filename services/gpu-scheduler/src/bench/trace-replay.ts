/**
 * Replays the Alibaba GPU trace (../shared/data/gpu-trace, 8,152 tasks) on a
 * simulated fleet of MIG-enabled H100s, once per placer, in the same process:
 * the share of requests admitted at once, queue wait p50/p99 (trace seconds),
 * free slots while requests wait, and decision time p50/p99.
 *
 *   npm run -w @quire/load-tests bench:gpu-placement -- [--gpus 1000] [--trace <dir>]
 *
 * Mapping: `gpu_milli < 1000` (part of one GPU) → the smallest MIG profile
 * with enough compute slices (ceil(share × 7): 1g, 2g, 3g, 4g, else 7g); a
 * whole GPU → 7g; `num_gpu` N > 1 → N × 7g admitted together or not at all.
 * Tasks without GPUs are skipped. Queue: strict FIFO (the head waits; nothing
 * overtakes it), retried on each departure. Discrete-event time: a task runs
 * for deletion_time − creation_time from when it is admitted.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { applyPlacement, releasePart, type GpuLayout } from '../placement/gpu-layout';
import type { MigKind } from '../placement/mig-profiles';
import { PLACERS, type GpuPlacer } from '../placement/placers';

interface Task {
  name: string;
  arrival: number;
  duration: number;
  kinds: MigKind[];
}

function loadTrace(dir: string): Task[] {
  const lines = readFileSync(join(dir, 'openb_pod_list_default.csv'), 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const col = (n: string) => header.indexOf(n);
  const tasks: Task[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    const numGpu = Number(f[col('num_gpu')]);
    const milli = Number(f[col('gpu_milli')]);
    if (!(numGpu > 0)) continue;
    const arrival = Number(f[col('creation_time')]);
    const deletion = Number(f[col('deletion_time')]);
    let kinds: MigKind[];
    if (numGpu === 1 && milli < 1000) {
      const slices = Math.max(1, Math.ceil((milli / 1000) * 7));
      const kind: MigKind =
        slices <= 1 ? '1g' : slices === 2 ? '2g' : slices === 3 ? '3g' : slices === 4 ? '4g' : '7g';
      kinds = [kind];
    } else kinds = Array.from({ length: numGpu }, () => '7g' as const);
    tasks.push({ name: f[col('name')]!, arrival, duration: Math.max(1, deletion - arrival), kinds });
  }
  return tasks.sort((a, b) => a.arrival - b.arrival || a.name.localeCompare(b.name));
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

interface Outcome {
  placer: string;
  admittedAtOnce: number;
  waits: number[];
  neverAdmitted: number;
  /** Mean free slots over the events at which someone waited. */
  idleSlotsWhileWaiting: number;
  decisionsMs: number[];
}

function replay(placer: GpuPlacer, tasks: readonly Task[], gpus: number): Outcome {
  let fleet: GpuLayout[] = Array.from({ length: gpus }, (_, i) => ({
    uuid: `GPU-${i}`,
    gpuType: 'h100-80gb',
    mig: true,
    parts: [],
  }));
  const index = new Map(fleet.map((g, i) => [g.uuid, i]));
  const departures: { at: number; ids: { uuid: string; id: string }[] }[] = [];
  const queue: Task[] = [];
  const out: Outcome = {
    placer: placer.name,
    admittedAtOnce: 0,
    waits: [],
    neverAdmitted: 0,
    idleSlotsWhileWaiting: 0,
    decisionsMs: [],
  };
  let idleSum = 0;
  let idleSamples = 0;
  const freeSlots = () => fleet.reduce((n, g) => n + 8 - g.parts.reduce((m, p) => m + p.size, 0), 0);

  const tryAdmit = (t: Task, now: number): boolean => {
    const placed: { uuid: string; id: string }[] = [];
    let draft = fleet;
    for (const [k, kind] of t.kinds.entries()) {
      const id = `${t.name}#${k}`;
      const t0 = performance.now();
      const p = placer.place(draft, { allocationId: id, gpuType: 'h100-80gb', kind });
      out.decisionsMs.push(performance.now() - t0);
      if (!p) return false;
      const i = index.get(p.uuid)!;
      draft = draft.slice();
      draft[i] = applyPlacement(draft[i]!, id, p);
      placed.push({ uuid: p.uuid, id });
    }
    fleet = draft;
    departures.push({ at: now + t.duration, ids: placed });
    return true;
  };
  const drainQueue = (now: number) => {
    while (queue.length > 0 && tryAdmit(queue[0]!, now)) {
      const t = queue.shift()!;
      out.waits.push(now - t.arrival);
    }
  };
  const nextDeparture = () => {
    let best = -1;
    for (let i = 0; i < departures.length; i++)
      if (best < 0 || departures[i]!.at < departures[best]!.at) best = i;
    return best;
  };
  const depart = (i: number) => {
    const [d] = departures.splice(i, 1);
    for (const { uuid, id } of d!.ids) {
      const g = index.get(uuid)!;
      fleet[g] = releasePart(fleet[g]!, id);
    }
    drainQueue(d!.at);
  };

  for (const t of tasks) {
    for (let i = nextDeparture(); i >= 0 && departures[i]!.at <= t.arrival; i = nextDeparture()) depart(i);
    if (queue.length === 0 && tryAdmit(t, t.arrival)) {
      out.admittedAtOnce++;
      out.waits.push(0);
    } else queue.push(t);
    if (queue.length > 0) {
      idleSum += freeSlots();
      idleSamples++;
    }
  }
  for (let i = nextDeparture(); i >= 0 && queue.length > 0; i = nextDeparture()) depart(i);
  out.neverAdmitted = queue.length;
  out.idleSlotsWhileWaiting = idleSamples ? idleSum / idleSamples : 0;
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const arg = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
  };
  const gpus = Number(arg('gpus', '1000'));
  const dir = resolve(arg('trace', join(__dirname, '../../../../../shared/data/gpu-trace')));
  const tasks = loadTrace(dir);
  const load0 = loadavg()[0]!.toFixed(2);
  console.log(
    `trace: ${tasks.length} GPU tasks from ${dir}; fleet: ${gpus} × H100-80GB (MIG); load ${load0}`,
  );
  const results = PLACERS.map((p) => replay(p, tasks, gpus));
  const ref = results.find((r) => r.placer === 'first-fit')!;
  console.log(
    '| placer | admitted at once | wait p50 / p99 (trace s) | never admitted | free slots while waiting | decision p50 / p99 (ms) | vs first-fit: admitted at once |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of results)
    console.log(
      `| ${r.placer} | ${((100 * r.admittedAtOnce) / tasks.length).toFixed(1)} % | ${pct(r.waits, 50)} / ${pct(r.waits, 99)} | ${r.neverAdmitted} | ${r.idleSlotsWhileWaiting.toFixed(0)} | ${pct(r.decisionsMs, 50).toFixed(3)} / ${pct(r.decisionsMs, 99).toFixed(3)} | ${(r.admittedAtOnce / ref.admittedAtOnce).toFixed(3)}× |`,
    );
  console.log(
    `load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

main();
