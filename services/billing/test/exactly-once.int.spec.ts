import type { INestApplication } from '@nestjs/common';
import { bootstrapService } from '@quire/service-kit';
import { createServer } from 'node:net';
import type { Kafka } from 'kafkajs';
import type { BillingRuntime } from '../src/runtime/billing-runtime';
import { SOURCE_TOPICS } from '../src/runtime/billing-runtime';
import {
  configFor,
  createTopics,
  deleteTopics,
  drained,
  endOffsets,
  EventSender,
  kafkaFor,
  namespace,
  observer,
  runBillingCli,
  sleep,
  waitUntil,
  WorkerProcess,
  type Namespace,
} from './support/harness';
import { deliveryPlan, mulberry32, simulate, type Simulation } from './support/usage-simulation';

// 64–117 s on a quiet 2-core machine; the margin is for a machine shared with other work.
jest.setTimeout(600_000);

const KILLS = 20;
const HELPER_CYCLES = 5; // join + leave = 2 forced rebalances each

/**
 * Acceptance: 100,000 generated events with a known ground truth, 5 % sent
 * twice, 10 % out of order, the billing consumer killed with SIGKILL 20 times
 * and the consumer group forced through 10 extra rebalances while it ingests.
 * Billed quantities must equal the ground truth exactly, every event id must
 * be in the journal exactly once, and `quire billing rebuild` from offset 0
 * must produce the same totals.
 */
describe('exactly-once metering under crashes and rebalances (real Kafka + PostgreSQL)', () => {
  let ns: Namespace;
  let kafka: Kafka;
  let sim: Simulation;
  let plan: ReturnType<typeof deliveryPlan>;
  let obs: BillingRuntime;
  const workers: WorkerProcess[] = [];
  let api: INestApplication | undefined;
  const savedEnv = { ...process.env };

  const workerEnv = () => ({
    ...ns.env,
    QUIRE_BILLING_KAFKA_SESSION_TIMEOUT_MS: '6000',
    QUIRE_BILLING_KAFKA_REBALANCE_TIMEOUT_MS: '3000',
    QUIRE_BILLING_KAFKA_HEARTBEAT_MS: '300',
    QUIRE_BILLING_METER_INTERVAL_MS: '100',
    QUIRE_BILLING_PUBLISH: 'false',
  });

  beforeAll(async () => {
    ns = namespace('eo');
    kafka = kafkaFor(`billing-it-${ns.runId}`);
    await createTopics(kafka, ns);
    sim = simulate({
      seed: 20250303,
      runId: ns.runId,
      startMs: Date.UTC(2025, 2, 3, 8),
      durationMs: 180 * 60_000,
      hosts: 8,
      kernels: 1400,
      orgs: 5,
      usersPerOrg: 6,
      gpuShare: 0.25,
      agentShare: 0.3,
      tailMs: 55 * 60_000,
    });
    plan = deliveryPlan(sim.events, 4242, {
      duplicateShare: 0.05,
      outOfOrderShare: 0.1,
      maxDisplacement: 2000,
    });
    obs = observer(configFor(ns));
    await obs.migrate();
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill9()));
    await api?.close();
    process.env = savedEnv;
    if (obs && !process.env.QUIRE_BILLING_KEEP_TEST_SCHEMAS) {
      const { rows } = await obs.pool.query<{ s: string }>(
        `SELECT nspname AS s FROM pg_namespace WHERE nspname LIKE $1`,
        [`${ns.schema}%`],
      );
      for (const r of rows) await obs.pool.query(`DROP SCHEMA ${r.s} CASCADE`);
    }
    await obs?.stop();
    await deleteTopics(kafka, ns);
  });

  it('bills exactly the ground truth after 20 kill -9s and 10 forced rebalances', async () => {
    expect(sim.events.length).toBeGreaterThanOrEqual(100_000);
    expect(plan.duplicated / sim.events.length).toBeGreaterThan(0.045);
    expect(plan.displaced / sim.events.length).toBeGreaterThan(0.095);
    const rnd = mulberry32(99);

    // Producers: paced; the last tenth is held back until the last kill, so every kill happens mid-ingestion.
    const sender = await EventSender.open(kafka, ns.prefix);
    const holdBack = Math.floor(plan.plan.length * 0.9);
    let killsDone = false;
    let sent = 0;
    const producer = (async () => {
      const chunk = 1000;
      const paceMs = 550;
      for (let i = 0; i < plan.plan.length; i += chunk) {
        while (i >= holdBack && !killsDone) await sleep(100);
        const t0 = Date.now();
        await sender.send(plan.plan.slice(i, i + chunk));
        sent = Math.min(plan.plan.length, i + chunk);
        await sleep(Math.max(0, paceMs - (Date.now() - t0)));
      }
      await sender.close();
    })();

    const journalCount = async () =>
      Number((await obs.pool.query(`SELECT count(*) AS n FROM ${ns.schema}.event_journal`)).rows[0].n);

    // Two consumer processes, killed alternately (the older one) and restarted at once.
    const slots = [new WorkerProcess(workerEnv()), new WorkerProcess(workerEnv())];
    workers.push(...slots);
    await slots[0]!.waitFor('group joined');

    // A helper that joins and leaves gracefully: 2 forced rebalances per cycle.
    const leaves: number[] = [];
    const helpers: WorkerProcess[] = [];
    const helper = (async () => {
      for (let c = 0; c < HELPER_CYCLES; c++) {
        await sleep(2000 + rnd() * 3000);
        const h = new WorkerProcess(workerEnv());
        workers.push(h);
        helpers.push(h);
        await h.waitFor('group joined', 60_000);
        await sleep(1500 + rnd() * 1500);
        leaves.push(Date.now());
        await h.stop();
      }
    })();

    const kills: { journal: number; sent: number; wasConsuming: boolean }[] = [];
    for (let k = 0; k < KILLS; k++) {
      const slot = k % 2;
      const target = slots[slot]!;
      await target.waitFor('group joined', 60_000).catch(() => undefined);
      // Kill mid-stream: wait (bounded) until the victim has committed a batch,
      // so the kill lands while it is consuming even on a loaded CI machine.
      await target.waitFor('consumed', 15_000).catch(() => undefined);
      await sleep(300 + rnd() * 1200);
      kills.push({ journal: await journalCount(), sent, wasConsuming: target.logged('consumed') > 0 });
      await target.kill9();
      slots[slot] = new WorkerProcess(workerEnv());
      workers.push(slots[slot]!);
    }
    killsDone = true;
    await helper;
    await producer;
    console.log(
      `kills (journal size, messages sent, victim had committed batches): ${JSON.stringify(kills)}`,
    );
    expect(kills).toHaveLength(KILLS);
    // Every kill happened while events were still arriving, and most victims were mid-stream.
    for (const k of kills) expect(k.sent).toBeLessThan(plan.plan.length);
    expect(kills.filter((k) => k.wasConsuming).length).toBeGreaterThanOrEqual(KILLS / 2);
    expect(kills[KILLS - 1]!.journal).toBeGreaterThan(kills[0]!.journal);

    const end = await endOffsets(
      kafka,
      SOURCE_TOPICS.map((t) => ns.prefix + t),
    );
    const st = await waitUntil(
      'the ledger to drain',
      () => obs.status(),
      (s) => drained(s, end),
      120_000,
      500,
    );

    // Rebalances: the leader of each generation logs its join.
    const leaderJoins = workers.reduce(
      (n, w) =>
        n + w.lines.filter((l) => l.includes('"msg":"group joined"') && l.includes('"isLeader":true')).length,
      0,
    );
    console.log(
      `ingested ${sim.events.length} events (${plan.plan.length} messages) through ${KILLS} kills; ` +
        `${leaderJoins} group generations`,
    );
    // The 10 forced rebalances: each helper's join completed, and after each helper left, the group
    // rebalanced again (a member that stayed logged a new join).
    expect(helpers).toHaveLength(HELPER_CYCLES);
    for (const h of helpers) expect(h.logged('group joined')).toBeGreaterThanOrEqual(1);
    const stayers = workers.filter((w) => !helpers.includes(w));
    for (const at of leaves) {
      const rejoined = stayers.some((w) =>
        w.lines.some((l) => l.includes('"msg":"group joined"') && Date.parse(JSON.parse(l).time) > at),
      );
      expect(rejoined).toBe(true);
    }
    expect(leaderJoins).toBeGreaterThanOrEqual(2 * HELPER_CYCLES);

    // 0 missing, 0 duplicate event ids.
    const { rows: ids } = await obs.pool.query<{ event_id: string }>(
      `SELECT event_id FROM ${ns.schema}.event_journal`,
    );
    const inJournal = new Set(ids.map((r) => r.event_id));
    expect(ids.length).toBe(inJournal.size);
    const generated = new Set(sim.events.map((e) => e.id));
    expect([...generated].filter((id) => !inJournal.has(id))).toEqual([]);
    expect([...inJournal].filter((id) => !generated.has(id))).toEqual([]);
    expect(st.accepted).toBe(sim.events.length);
    expect(st.duplicates).toBe(plan.duplicated);
    expect(st.rejected).toBe(0);

    // Billed = ground truth, per org × user × resource and per kernel / agent run × resource.
    const { rows: byUser } = await obs.pool.query<{ k: string; base: string }>(
      `SELECT concat_ws('|', org_id, coalesce(user_id, ''), resource) AS k, sum(base_quantity)::text AS base
         FROM ${ns.schema}.ledger GROUP BY 1 HAVING sum(base_quantity) <> 0`,
    );
    expect(Object.fromEntries(byUser.map((r) => [r.k, r.base]))).toEqual(
      Object.fromEntries([...sim.truth.byUser].map(([k, v]) => [k, v.toString()])),
    );
    const { rows: byKernel } = await obs.pool.query<{ k: string; base: string }>(
      `SELECT concat_ws('|', coalesce(agent_run_id, kernel_id), resource) AS k, sum(base_quantity)::text AS base
         FROM ${ns.schema}.ledger GROUP BY 1 HAVING sum(base_quantity) <> 0`,
    );
    expect(Object.fromEntries(byKernel.map((r) => [r.k, r.base]))).toEqual(
      Object.fromEntries([...sim.truth.byKernel].map(([k, v]) => [k, v.toString()])),
    );
    // Billed seconds: kernel-seconds of CPU allocation, exactly.
    const cpuTruth = [...sim.truth.byOrg].filter(([k]) => k.endsWith('|cpu')).reduce((s, [, v]) => s + v, 0n);
    const { rows: cpu } = await obs.pool.query<{ base: string }>(
      `SELECT sum(base_quantity)::text AS base FROM ${ns.schema}.ledger WHERE resource = 'cpu'`,
    );
    expect(cpu[0]!.base).toBe(cpuTruth.toString());
  });

  it('`quire billing rebuild` replays from offset 0 into a fresh schema with identical totals', async () => {
    for (const w of workers) await w.stop();
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise((r) => srv.close(r));
    Object.assign(process.env, workerEnv(), {
      QUIRE_BILLING_ROLE: 'api',
      QUIRE_BILLING_PORT: String(port),
      QUIRE_LOG_LEVEL: 'warn',
    });
    api = await bootstrapService({
      service: 'billing-it-api',
      loadModule: async () => (await import('../src/app.module')).AppModule,
      port,
      host: '127.0.0.1',
      logLevel: 'warn',
    });
    const t0 = Date.now();
    const cli = await runBillingCli(['rebuild'], `http://127.0.0.1:${port}`);
    console.log(`quire billing rebuild (${((Date.now() - t0) / 1000).toFixed(1)} s):\n${cli.stdout}`);
    expect(cli.stdout).toMatch(/identical: the rebuilt ledger has the same totals as the live one/);
    expect(cli.stdout).not.toMatch(/different part of the streams/);
    const schema = /rebuilding into schema (\S+)/.exec(cli.stdout)![1]!;
    expect(schema).not.toBe(ns.schema);

    // And the rebuilt ledger is the ground truth too (not merely equal to a wrong live ledger).
    const { rows } = await obs.pool.query<{ k: string; base: string }>(
      `SELECT concat_ws('|', org_id, coalesce(user_id, ''), resource) AS k, sum(base_quantity)::text AS base
         FROM ${schema}.ledger GROUP BY 1 HAVING sum(base_quantity) <> 0`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.k, r.base]))).toEqual(
      Object.fromEntries([...sim.truth.byUser].map(([k, v]) => [k, v.toString()])),
    );
  });
});
