/**
 * Gateway no-op cell round trip, side by side in one run:
 *  - quire-gateway-editor: the editor's kernel channel (`run` by cell id, outputs into the document);
 *  - quire-gateway-jupyter: the gateway's Jupyter-compatible kernel WebSocket (JSON protocol);
 *  - host-worker-api: the host worker's internal execute API alone (what the gateway adds = the difference);
 *  - jupyter-server (stock, and with TCP_NODELAY): Jupyter Server's kernel WebSocket, same client code.
 * Quire's peers run the kernel in gVisor through the host worker (its own process); Jupyter Server runs
 * ipykernel unsandboxed. Services: doc-sync, host worker and gateway started here from their entry points.
 *
 *   eval "$(npm run -s quire -- env)"
 *   npm run -w @quire/load-tests bench:gateway [-- --round-trips 300 --warmup 30 --block 50]
 */
import { numberArgs } from '../lib/args';
import { saveResults } from '../lib/report';
import { machine, ms, requireEnv, table } from '../lib/stats';
import { ensureJupyterVenv, jupyterServerPeer, type Peer } from '../noop-cell/peers';
import { runNoopCell } from '../noop-cell/scenario';
import { gatewayEditorPeer, gatewayJupyterPeer, hostWorkerPeer } from './peers';
import { startQuire } from './services';

async function main(): Promise<number> {
  requireEnv('QUIRE_KERNEL_ENV');
  requireEnv('QUIRE_TOKEN_SIGNING_KEY');
  const sc = numberArgs({ warmup: 30, roundTrips: 300, block: 50, probes: 0 });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const atStart = machine();
  log(`gateway no-op cell: ${JSON.stringify(sc)} on ${atStart}`);
  const venv = ensureJupyterVenv();
  const quire = await startQuire();
  const peers: Peer[] = [];
  try {
    const started = new Date().toISOString();
    peers.push(await gatewayEditorPeer(quire.gateway.base));
    peers.push(await gatewayJupyterPeer(quire.gateway.base));
    peers.push(await hostWorkerPeer(quire.host.base));
    peers.push(await jupyterServerPeer(venv, { nodelay: false }));
    peers.push(await jupyterServerPeer(venv, { nodelay: true }));
    log(`peers up: ${peers.map((p) => p.name).join(', ')}`);
    const results = await runNoopCell(peers, sc, log);
    const by = (name: string) => results.find((r) => r.name === name)!.summary;
    const editor = by('quire-gateway-editor');
    const compat = by('quire-gateway-jupyter');
    const jupyter = by('jupyter-server');
    const tuned = by('jupyter-server-nodelay');
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    const out = [
      `gateway no-op cell round trip, ${started}`,
      `machine at start: ${atStart}`,
      `machine at end:   ${machine()}`,
      `scenario: ${JSON.stringify(sc)}, cell \`pass\``,
      '',
      table(
        results.map((r) => [r.name, r.summary]),
        ['p50', 'p95', 'p99', 'max', 'mean'],
      ),
      '',
      `gateway editor channel / Jupyter Server (stock): p50 ${ratio(editor.p50, jupyter.p50)}×, p99 ${ratio(editor.p99, jupyter.p99)}×`,
      `gateway editor channel / Jupyter Server (TCP_NODELAY): p50 ${ratio(editor.p50, tuned.p50)}×, p99 ${ratio(editor.p99, tuned.p99)}×`,
      `gateway Jupyter API / Jupyter Server (stock): p50 ${ratio(compat.p50, jupyter.p50)}×, p99 ${ratio(compat.p99, jupyter.p99)}×`,
      `gateway Jupyter API / Jupyter Server (TCP_NODELAY): p50 ${ratio(compat.p50, tuned.p50)}×, p99 ${ratio(compat.p99, tuned.p99)}×`,
      `editor channel − Jupyter API (document writes, queue broadcast): p50 +${ms(editor.p50 - compat.p50)} ms`,
      `gateway's own share (Jupyter API − host worker API): p50 +${ms(compat.p50 - by('host-worker-api').p50)} ms, p99 +${ms(compat.p99 - by('host-worker-api').p99)} ms`,
      '',
      ...results.map((r) => `- ${r.name}: ${r.describe}`),
    ].join('\n');
    process.stdout.write(`${out}\n`);
    const file = saveResults('gateway-noop-cell', {
      started,
      machine: { atStart, atEnd: machine() },
      scenario: sc,
      results,
    });
    if (file) log(`raw results: ${file}`);
  } finally {
    for (const p of peers.reverse())
      await p.close().catch((err: Error) => log(`closing ${p.name}: ${err.message}`));
    await quire.stop();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`gateway bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
