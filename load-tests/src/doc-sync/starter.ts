/**
 * Document sync fan-out, side by side in one run: Quire's doc-sync against
 * @hocuspocus/server and y-websocket's classic server. N clients in this
 * process edit one document, each M times a second (a few characters into
 * the shared cell plus its send time in a map); every other client measures
 * send → applied (fan-out latency). The server's CPU and resident memory
 * come from /proc. The servers run one after another on the same machine.
 *
 *   eval "$(npm run -s quire -- env)"
 *   npm run -w @quire/load-tests bench:doc-sync [-- --clients 20 --rate 5 --seconds 15 --warmup 3 --rounds 2]
 */
import { numberArgs } from '../lib/args';
import { saveResults } from '../lib/report';
import { machine, ms, requireEnv, sleep, summarize, type Summary } from '../lib/stats';
import { BenchClient } from './bench-client';
import { PostgresMeter, ProcessMeter } from './process-meter';
import { docSync, hocuspocus, yWebsocket, type BenchServer } from './servers';

const DEFAULTS = { clients: 20, rate: 5, seconds: 15, warmup: 3, rounds: 2 };
type Scenario = typeof DEFAULTS;

interface Result {
  name: string;
  latency: Summary;
  samples: number[];
  expected: number;
  cpuPercent: number;
  /** The platform PostgreSQL's CPU in the same window (doc-sync's write-ahead log lives there). */
  pgCpuPercent: number | undefined;
  maxRssMb: number;
  converged: boolean;
  sentPerSecond: number;
}

async function runOne(server: BenchServer, sc: Scenario, log: (l: string) => void): Promise<Result> {
  const nb = `bench-${Date.now().toString(36)}`;
  const url = await server.openDocument(nb);
  const clients: BenchClient[] = [];
  for (let i = 0; i < sc.clients; i++) {
    const c = new BenchClient(url, nb, server.framing);
    await c.connect();
    clients.push(c);
  }
  let sent = 0;
  const timers = clients.map((c, i) => {
    let n = 0;
    // Spread the clients' send times evenly over one period.
    const start = setTimeout(
      () => {
        timers[i] = setInterval(() => {
          c.edit(i, ++n);
          sent++;
        }, 1000 / sc.rate);
      },
      (i * 1000) / sc.rate / sc.clients,
    );
    return start as NodeJS.Timeout;
  });
  await sleep(sc.warmup * 1000);
  const meter = new ProcessMeter(server.pid);
  const pg = new PostgresMeter();
  meter.start();
  pg.begin();
  const sentAtStart = sent;
  for (const c of clients) c.recording = true;
  await sleep(sc.seconds * 1000);
  const sentInWindow = sent - sentAtStart;
  for (const c of clients) c.recording = false;
  const usage = meter.stop();
  const pgCpu = pg.end();
  for (const t of timers) {
    clearTimeout(t);
    clearInterval(t);
  }
  await sleep(2000);
  const texts = new Set(clients.map((c) => c.doc.getText('source').toString()));
  const latencies = clients.flatMap((c) => c.latencies);
  for (const c of clients) c.close();
  const r: Result = {
    name: server.name,
    latency: summarize(latencies),
    samples: latencies,
    expected: sentInWindow * (sc.clients - 1),
    cpuPercent: usage.cpuPercent,
    pgCpuPercent: pgCpu,
    maxRssMb: usage.maxRssMb,
    converged: texts.size === 1,
    sentPerSecond: sentInWindow / sc.seconds,
  };
  log(
    `${server.name}: p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms, cpu ${r.cpuPercent.toFixed(0)} %, rss ${r.maxRssMb.toFixed(0)} MB`,
  );
  return r;
}

async function main(): Promise<number> {
  requireEnv('QUIRE_POSTGRES_URL');
  requireEnv('QUIRE_TOKEN_SIGNING_KEY');
  const sc = numberArgs({ ...DEFAULTS });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const atStart = machine();
  const started = new Date().toISOString();
  log(`doc-sync bench: ${JSON.stringify(sc)} on ${atStart}`);
  // Rounds alternate the order (A B C, C B A, …) so drift in machine load does not favour one server.
  const makers = [docSync, hocuspocus, yWebsocket];
  const perRound: Result[][] = [];
  for (let round = 0; round < Math.max(1, sc.rounds); round++) {
    const order = round % 2 === 0 ? makers : [...makers].reverse();
    for (const make of order) {
      const server = await make();
      try {
        (perRound[makers.indexOf(make)] ??= []).push(await runOne(server, sc, log));
      } finally {
        await server.stop();
      }
    }
  }
  const results: Result[] = perRound.map((rs) => ({
    name: rs[0]!.name,
    latency: summarize(rs.flatMap((r) => r.samples)),
    samples: [],
    expected: rs.reduce((a, r) => a + r.expected, 0),
    cpuPercent: rs.reduce((a, r) => a + r.cpuPercent, 0) / rs.length,
    pgCpuPercent: rs.reduce((a, r) => a + (r.pgCpuPercent ?? 0), 0) / rs.length,
    maxRssMb: Math.max(...rs.map((r) => r.maxRssMb)),
    converged: rs.every((r) => r.converged),
    sentPerSecond: rs.reduce((a, r) => a + r.sentPerSecond, 0) / rs.length,
  }));
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${r.sentPerSecond.toFixed(0)} | ${r.latency.n} / ${r.expected} | ${ms(r.latency.p50)} | ${ms(r.latency.p99)} | ${ms(r.latency.max)} | ${r.cpuPercent.toFixed(0)} % | ${r.pgCpuPercent === undefined ? '—' : `${r.pgCpuPercent.toFixed(0)} %`} | ${r.maxRssMb.toFixed(0)} | ${r.converged ? 'yes' : 'NO'} |`,
  );
  const out = [
    `document sync fan-out, ${started}`,
    `machine at start: ${atStart}`,
    `machine at end:   ${machine()}`,
    `scenario: ${sc.clients} clients × ${sc.rate} edits/s on one document, ${sc.seconds} s measured after ${sc.warmup} s warm-up, ${sc.rounds} rounds per server (order alternating)`,
    '',
    '| server | edits/s sent | fan-out samples / expected | p50 (ms) | p99 (ms) | max (ms) | server CPU | PostgreSQL CPU | server max RSS (MB) | converged |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
  ].join('\n');
  process.stdout.write(`${out}\n`);
  const file = saveResults('doc-sync', {
    started,
    scenario: sc,
    results: results.map(({ samples: _s, ...r }) => r),
    rounds: perRound.map((rs) => rs.map(({ samples: _s, ...r }) => r)),
  });
  if (file) log(`raw results: ${file}`);
  return results.every((r) => r.converged) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
