/**
 * No-op cell round trip (`pass`: execute_request sent → execute_reply and
 * status idle received), side by side in one run:
 *  - quire: Quire's path, KernelClient in this process → stdio relay → kernel shim → ipykernel in gVisor;
 *  - jupyter-server: the same cell through Jupyter Server's kernel WebSocket on this machine
 *    (stock, and with TCP_NODELAY on its WebSocket: see NODELAY_CONFIG in peers.ts);
 *  - raw-zmq: KernelClient straight to a local ipykernel over ZeroMQ (the floor).
 *
 *   eval "$(npm run -s quire -- env)"
 *   npm run -w @quire/load-tests bench:noop-cell [-- --round-trips 500 --warmup 50 --block 50 --probes 200]
 */
import { numberArgs } from '../lib/args';
import { BenchHost } from '../lib/kernel-sandboxes';
import { saveResults, verdict } from '../lib/report';
import { machine, ms, requireEnv, table } from '../lib/stats';
import { ensureJupyterVenv, jupyterServerPeer, quirePeer, rawZmqPeer, type Peer } from './peers';
import { DEFAULT_SCENARIO, runNoopCell, runProbes } from './scenario';

async function main(): Promise<number> {
  requireEnv('QUIRE_KERNEL_ENV');
  const sc = numberArgs({ ...DEFAULT_SCENARIO });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const atStart = machine();
  log(`noop-cell: ${JSON.stringify(sc)} on ${atStart}`);
  const venv = ensureJupyterVenv();
  const host = new BenchHost();
  const peers: Peer[] = [];
  let code = 0;
  try {
    const started = new Date().toISOString();
    peers.push(await quirePeer(host));
    peers.push(await jupyterServerPeer(venv, { nodelay: false }));
    peers.push(await jupyterServerPeer(venv, { nodelay: true }));
    peers.push(await rawZmqPeer(venv));
    log(`peers up: ${peers.map((p) => p.name).join(', ')}`);
    const results = await runNoopCell(peers, sc, log);
    const probes = sc.probes > 0 ? await runProbes(peers, sc.probes) : [];
    const by = (name: string) => results.find((r) => r.name === name)!.summary;
    const quire = by('quire');
    const jupyter = by('jupyter-server');
    const tuned = by('jupyter-server-nodelay');
    const raw = by('raw-zmq');
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    const out = [
      `no-op cell round trip, ${started}`,
      `machine at start: ${atStart}`,
      `machine at end:   ${machine()}`,
      `scenario: ${JSON.stringify(sc)}, cell \`pass\``,
      '',
      table(
        results.map((r) => [r.name, r.summary]),
        ['p50', 'p95', 'p99', 'max', 'mean'],
      ),
      '',
      ...(probes.length
        ? [
            'where the time goes (smaller round trips, same clients):',
            '',
            table(
              probes.map((r) => [r.name, r.summary]),
              ['p50', 'p95', 'p99', 'max', 'mean'],
            ),
            '',
          ]
        : []),
      `Quire / Jupyter Server (stock): p50 ${ratio(quire.p50, jupyter.p50)}×, p99 ${ratio(quire.p99, jupyter.p99)}×, mean ${ratio(quire.mean, jupyter.mean)}×`,
      `Quire / Jupyter Server with TCP_NODELAY: p50 ${ratio(quire.p50, tuned.p50)}×, p99 ${ratio(quire.p99, tuned.p99)}×, mean ${ratio(quire.mean, tuned.mean)}×`,
      `Quire / raw ZeroMQ:     p50 ${ratio(quire.p50, raw.p50)}×, p99 ${ratio(quire.p99, raw.p99)}×, mean ${ratio(quire.mean, raw.mean)}×`,
      `Quire overhead over the raw kernel: p50 +${ms(quire.p50 - raw.p50)} ms, p99 +${ms(quire.p99 - raw.p99)} ms`,
      verdict('Quire no-op cell p99 (whole round trip, kernel included)', quire.p99, 100, 5),
      '',
      ...results.map((r) => `- ${r.name}: ${r.describe}`),
    ].join('\n');
    process.stdout.write(`${out}\n`);
    const file = saveResults('noop-cell', {
      started,
      machine: { atStart, atEnd: machine() },
      scenario: sc,
      results,
      probes,
    });
    if (file) log(`raw results: ${file}`);
  } finally {
    for (const p of peers.reverse())
      await p.close().catch((err: Error) => log(`closing ${p.name}: ${err.message}`));
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
    process.stderr.write(`noop-cell failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
