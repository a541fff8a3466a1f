/**
 * Kernel lifecycle workflows at scale, fake host activities (no gVisor): 1,000
 * kernelLifecycle workflows are started through ensureRunning (update-with-
 * start) and left alone: their (shortened) timers drive them IDLE →
 * HIBERNATED (snapshot activity + lifecycle events). Then signal latency: an
 * activity signal (what the Kafka bridge sends on every cell run) to each, RPC
 * and signal → applied. Side by side in the same run and worker, the same
 * starts and signals to a no-op workflow (durableTimerProbe: a signal handler
 * that counts).
 *
 *   eval "$(npm run -s quire -- env)"
 *   npm run -w @quire/load-tests bench:lifecycle [-- --workflows 1000 --concurrency 50 --applied-sample 50 --idle-ms 2000 --hibernate-ms 1000]
 */
import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  uuidv7,
  type KernelLifecycleInput,
  type LifecycleSnapshot,
} from '@quire/contracts';
import { startServiceProcess, stopServiceProcess } from '@quire/service-kit';
import {
  Client,
  Connection,
  WithStartWorkflowOperation,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { numberArgs } from '../lib/args';
import { saveResults } from '../lib/report';
import { machine, now, requireEnv, summarize, table, type Summary } from '../lib/stats';

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function main(): Promise<number> {
  const address = requireEnv('QUIRE_TEMPORAL_ADDRESS');
  const sc = numberArgs({
    workflows: 1000,
    concurrency: 50,
    appliedSample: 50,
    idleMs: 2000,
    hibernateMs: 1000,
  });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const run = uuidv7().slice(-8);
  const taskQueue = `lifecycle-bench-${run}`;
  const atStart = machine();
  log(`lifecycle bench ${JSON.stringify(sc)} on ${atStart}`);

  let allocated = 0;
  let hibernated = 0;
  // The bench worker says `ready` once polling, then `progress <allocated> <hibernated>` lines.
  const worker = await startServiceProcess({
    name: 'bench-lifecycle-worker',
    entry: 'workflows/src/testing/bench-worker.ts',
    env: { BENCH_TASK_QUEUE: taskQueue },
    readyPath: null,
    readyLine: (l) => l === 'ready',
    readyTimeoutMs: 300_000,
    onLine: (l) => {
      const m = /^progress (\d+) (\d+)$/.exec(l);
      if (m) {
        allocated = Number(m[1]);
        hibernated = Number(m[2]);
      }
    },
    sourceMaps: false, // as in production: no source-mapped stack traces slowing the measured worker
    killWithParent: true, // never leave the bench worker behind
  });
  log(`bench worker log: ${worker.logFile}`);
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const ids = Array.from({ length: sc.workflows }, (_, i) => `bench-${run}-${i}`);
  const input = (kernelId: string, idleAfterMs = sc.idleMs): KernelLifecycleInput => ({
    kernelId,
    notebookId: `nb-${kernelId}`,
    tenant: 'org-bench',
    userId: 'u-bench',
    tier: 'team',
    policy: {
      idleAfterMs,
      hibernateAfterMs: sc.hibernateMs,
      evictAfterMs: null,
      backgroundSnapshotEveryMs: null,
      creationsPerTenantPerMinute: 1e9,
    },
  });
  const state = (k: string) =>
    client.workflow
      .getHandle(kernelLifecycleWorkflowId(k))
      .query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);
  const activitySignal = () => ({
    kind: 'execute-completed',
    eventId: uuidv7(),
    at: new Date().toISOString(),
  });
  let retries = 0;
  const ensure = async (k: string, idleAfterMs?: number) => {
    for (;;) {
      const op = new WithStartWorkflowOperation(KERNEL_LIFECYCLE.workflowType, {
        workflowId: kernelLifecycleWorkflowId(k),
        taskQueue,
        args: [input(k, idleAfterMs)],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      op.workflowHandle().catch(() => undefined); // its failure is the update's failure, handled below
      try {
        await client.workflow.executeUpdateWithStart(KERNEL_LIFECYCLE.ensureRunningUpdate, {
          args: [{ userId: 'u-bench', reason: 'run' }],
          startWorkflowOperation: op,
        });
        return;
      } catch (err) {
        // An overloaded machine can run past the RPC deadline; asking again is safe
        // (same workflow id, USE_EXISTING; a running kernel answers 'already-running').
        const deadline =
          err instanceof WorkflowUpdateRPCTimeoutOrCancelledError ||
          /DEADLINE_EXCEEDED|deadline exceeded/i.test(String((err as Error).message));
        if (!deadline || ++retries > 200) throw err;
      }
    }
  };
  let code = 0;
  const extra: string[] = [];
  const probes = ids.map((k) => `probe-${k}`);
  try {
    // 1. N lifecycles: ensureRunning (update-with-start: start + placement + allocation + events),
    //    then left alone, their timers drive them IDLE → HIBERNATED (snapshot activity + events).
    const startLat: number[] = [];
    const t0 = now();
    await pool(ids, sc.concurrency, async (k) => {
      const s = now();
      await ensure(k);
      startLat.push(now() - s);
    });
    const startSecs = (now() - t0) / 1000;
    log(
      `started ${ids.length} lifecycles (${allocated} sandboxes allocated) in ${startSecs.toFixed(1)} s; waiting for hibernation`,
    );
    const deadlineAt = Date.now() + 1_200_000;
    while (hibernated < ids.length && Date.now() < deadlineAt) await new Promise((r) => setTimeout(r, 100));
    const allSecs = (now() - t0) / 1000;
    if (hibernated < ids.length) {
      log(`${ids.length - hibernated} kernels never hibernated`);
      code = 1;
    }

    // 2. Signal RPC latency: one activity signal to each lifecycle; the same to as many no-op workflows.
    const sigLat: number[] = [];
    const s0 = now();
    await pool(ids, sc.concurrency, async (k) => {
      const s = now();
      await client.workflow
        .getHandle(kernelLifecycleWorkflowId(k))
        .signal(KERNEL_LIFECYCLE.activitySignal, activitySignal());
      sigLat.push(now() - s);
    });
    const signalSecs = (now() - s0) / 1000;
    const probeStartLat: number[] = [];
    const p0 = now();
    await pool(probes, sc.concurrency, async (id) => {
      const s = now();
      await client.workflow.start('durableTimerProbe', {
        workflowId: id,
        taskQueue,
        args: [{ sleepMs: 3_600_000, label: id }],
      });
      probeStartLat.push(now() - s);
    });
    const probeStartSecs = (now() - p0) / 1000;
    const probeSigLat: number[] = [];
    const ps0 = now();
    await pool(probes, sc.concurrency, async (id) => {
      const s = now();
      await client.workflow.getHandle(id).signal('poke');
      probeSigLat.push(now() - s);
    });
    const probeSignalSecs = (now() - ps0) / 1000;

    // 3. Signal → applied (visible in a query), sequential: lifecycles kept RUNNING (idle after 1 h)
    //    whose idle timer moves, and no-op workflows whose counter moves.
    for (let i = 0; i < sc.appliedSample; i++) extra.push(`bench-${run}-live-${i}`);
    await pool(extra, sc.concurrency, (k) => ensure(k, 3_600_000));
    const applied: number[] = [];
    const probeApplied: number[] = [];
    const until = async (pred: () => Promise<boolean>) => {
      const end = Date.now() + 30_000;
      while (!(await pred())) if (Date.now() > end) throw new Error('signal not applied within 30 s');
    };
    for (const k of extra) {
      const before = (await state(k)).timers.idleAt;
      await new Promise((r) => setTimeout(r, 5)); // so the new idle time differs
      const s = now();
      await client.workflow
        .getHandle(kernelLifecycleWorkflowId(k))
        .signal(KERNEL_LIFECYCLE.activitySignal, activitySignal());
      await until(async () => (await state(k)).timers.idleAt !== before);
      applied.push(now() - s);
    }
    for (const id of probes.slice(0, sc.appliedSample)) {
      const h = client.workflow.getHandle(id);
      const before = (await h.query<{ signalsReceived: number }>('state')).signalsReceived;
      const s = now();
      await h.signal('poke');
      await until(
        async () => (await h.query<{ signalsReceived: number }>('state')).signalsReceived !== before,
      );
      probeApplied.push(now() - s);
    }
    const hibernateSecs = allSecs - startSecs;

    const rows: [string, Summary][] = [
      ['lifecycle: ensureRunning (update-with-start → RUNNING)', summarize(startLat)],
      ['no-op workflow: start', summarize(probeStartLat)],
      ['lifecycle: activity signal RPC', summarize(sigLat)],
      ['no-op workflow: signal RPC', summarize(probeSigLat)],
      [`lifecycle: signal → applied (visible in query), sequential`, summarize(applied)],
      [`no-op workflow: signal → applied (visible in query), sequential`, summarize(probeApplied)],
    ];
    const out = [
      `kernel lifecycle workflows, ${new Date().toISOString()}`,
      `machine at start: ${atStart}`,
      `machine at end:   ${machine()}`,
      `scenario: ${JSON.stringify(sc)}; fake host activities; Temporal dev server (SQLite); one worker process`,
      '',
      table(rows),
      '',
      `${ids.length} lifecycles ensureRunning → RUNNING in ${startSecs.toFixed(1)} s = ${(ids.length / startSecs).toFixed(1)} workflows/s (update RPC retries: ${retries}); no-op workflow starts: ${(ids.length / probeStartSecs).toFixed(1)}/s`,
      `all ${hibernated}/${ids.length} through start → IDLE → HIBERNATED in ${allSecs.toFixed(1)} s = ${(hibernated / allSecs).toFixed(1)} workflows/s end to end (last hibernation ${hibernateSecs.toFixed(1)} s after the last start; policy: idle after ${sc.idleMs} ms, hibernate ${sc.hibernateMs} ms later)`,
      `activity signals: ${(ids.length / signalSecs).toFixed(0)} signals/s to lifecycles, ${(ids.length / probeSignalSecs).toFixed(0)} signals/s to no-op workflows (concurrency ${sc.concurrency})`,
    ].join('\n');
    process.stdout.write(`${out}\n`);
    saveResults('lifecycle-bench', {
      sc,
      retries,
      rows,
      startSecs,
      allSecs,
      probeStartSecs,
      signalSecs,
      probeSignalSecs,
      hibernated,
    });

    // Cleanup: end every workflow of this run.
    await pool(
      [...ids, ...extra].map(kernelLifecycleWorkflowId).concat(probes),
      sc.concurrency,
      async (id) => {
        await client.workflow
          .getHandle(id)
          .terminate('benchmark done')
          .catch(() => undefined);
      },
    );
  } finally {
    await stopServiceProcess(worker);
    await connection.close();
  }
  return code;
}

main().then(
  (c) => process.exit(c),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
