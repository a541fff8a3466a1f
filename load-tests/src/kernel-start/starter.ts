/**
 * Kernel start benchmark: warm-pool acquisition and cold boot of a Python
 * kernel in a gVisor sandbox, each until a trivial cell has run.
 *
 *   eval "$(npm run -s quire -- env)"
 *   npm run -w @quire/load-tests bench:kernel-start [-- --warm-starts 50 --cold-starts 10 --pool-target 2 --busy-starts 20]
 */
import { numberArgs } from '../lib/args';
import { BenchHost } from '../lib/kernel-sandboxes';
import { saveResults, verdict } from '../lib/report';
import { machine, requireEnv, table } from '../lib/stats';
import { DEFAULT_SCENARIO, runCold, runWarm } from './scenario';

async function main(): Promise<number> {
  requireEnv('QUIRE_KERNEL_ENV');
  const sc = numberArgs({ ...DEFAULT_SCENARIO });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const atStart = machine();
  log(`kernel-start: ${JSON.stringify(sc)} on ${atStart}`);
  const host = new BenchHost();
  let code = 0;
  try {
    const started = new Date().toISOString();
    const warm = await runWarm(host, sc, log);
    const cold = await runCold(host, sc, log);
    const rows: [string, typeof warm.total][] = [
      ['warm: acquire → first `pass` answered', warm.total],
      ['warm: acquire → kernel handed out (kernel_info checked)', warm.acquire],
      ['warm: handed out → first `pass` answered', warm.firstExecute],
      ['warm: background refill (previous acquire → pool full)', warm.refill],
      ['warm: one refill boot (start + IOPub check)', warm.refillBoot],
      [
        `warm, back to back (a refill boot running in ${warm.duringRefillOverlapped}/${sc.busyStarts}): acquire → first \`pass\``,
        warm.duringRefill,
      ],
    ];
    for (const c of cold) {
      rows.push([`${c.variant}: boot + first \`pass\``, c.total]);
      rows.push([`${c.variant}: boot only`, c.boot]);
    }
    const out = [
      `kernel start, ${started}`,
      `machine at start: ${atStart}`,
      `machine at end:   ${machine()}`,
      `scenario: ${JSON.stringify(sc)}; warm pool misses: ${warm.misses}`,
      '',
      table(rows),
      '',
      verdict('warm p99', warm.total.p99, 2000, 300),
      verdict('warm back-to-back p99', warm.duringRefill.p99, 2000, 300),
      ...cold.map((c) => verdict(`${c.variant} p99`, c.total.p99, 8000, 3000)),
    ].join('\n');
    process.stdout.write(`${out}\n`);
    const file = saveResults('kernel-start', {
      started,
      machine: { atStart, atEnd: machine() },
      scenario: sc,
      warm,
      cold,
    });
    if (file) log(`raw results: ${file}`);
    if (warm.misses > 0) code = 1;
  } finally {
    const left = await host.dispose();
    if (left.length) {
      log(`left-over sandboxes killed: ${left.join(', ')}`);
      code = 1;
    }
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`kernel-start failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
