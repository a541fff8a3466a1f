/**
 * Completion latency from the live kernel, side by side in one run: a
 * completion asked where the kernel's live objects are the answer (`sales.reg`
 * on an object with 40 attributes), on
 *  - quire-gateway-editor: the editor's kernel channel `complete` → `complete_reply`
 *    (gateway → host worker POST /internal/kernels/:id/request → gVisor ipykernel);
 *  - quire-gateway-jupyter: the gateway's Jupyter kernel WebSocket, complete_request → complete_reply;
 *  - jupyter-server-nodelay: Jupyter Server's kernel WebSocket (TCP_NODELAY), same client code,
 *    ipykernel unsandboxed.
 * Every kernel first runs the same setup cell. Blocks of requests alternate between peers;
 * p50/p95/p99 per peer, and the machine's load at start and end.
 *
 *   eval "$(npm run -s quire -- env)"
 *   npm run -w @quire/load-tests bench:completions [-- --requests 300 --warmup 30 --block 50]
 */
import { numberArgs } from '../lib/args';
import { saveResults } from '../lib/report';
import { machine, requireEnv, summarize, table, type Summary } from '../lib/stats';
import { ensureJupyterVenv, jupyterServerPeer, type Peer } from '../noop-cell/peers';
import { gatewayEditorPeer, gatewayJupyterPeer } from '../gateway/peers';
import { startQuire } from '../gateway/services';

// No pandas: the Jupyter Server peer's environment is Jupyter's own. An object with 40 attributes.
const SETUP =
  "sales = type('Sales', (), {f'col_{i}': i for i in range(38)} | {'region': 'n', 'revenue': 1.0})()";
const CODE = 'sales.reg';
const WHAT: Record<string, string> = {
  'quire-gateway-editor':
    'Quire, the editor kernel channel: `complete` → gateway → host worker POST /internal/kernels/<id>/request → gVisor ipykernel → `complete_reply`',
  'quire-gateway-jupyter':
    'Quire, the gateway’s Jupyter /api/kernels/<id>/channels (JSON): complete_request → the same path → complete_reply',
  'jupyter-server-nodelay':
    'Jupyter Server 2.17.0 with TCP_NODELAY on the kernel WebSocket: complete_request → ipykernel (unsandboxed, ZeroMQ tcp) → complete_reply',
};

async function main(): Promise<number> {
  requireEnv('QUIRE_KERNEL_ENV');
  requireEnv('QUIRE_TOKEN_SIGNING_KEY');
  const sc = numberArgs({ warmup: 30, requests: 300, block: 50 });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const atStart = machine();
  log(`completions: ${JSON.stringify(sc)} on ${atStart}`);
  const venv = ensureJupyterVenv();
  const quire = await startQuire();
  const peers: Peer[] = [];
  try {
    const started = new Date().toISOString();
    peers.push(await gatewayEditorPeer(quire.gateway.base));
    peers.push(await gatewayJupyterPeer(quire.gateway.base));
    peers.push(await jupyterServerPeer(venv, { nodelay: true }));
    for (const p of peers) {
      await p.roundTrip(SETUP);
      const first = await p.complete!(CODE, CODE.length);
      if (!first.matches.some((m) => m.endsWith('region')))
        throw new Error(`${p.name} did not complete the column: ${JSON.stringify(first.matches)}`);
      for (let i = 0; i < sc.warmup; i++) await p.complete!(CODE, CODE.length);
    }
    const samples = new Map<string, number[]>(peers.map((p) => [p.name, []]));
    for (let done = 0; done < sc.requests; done += sc.block)
      for (const p of peers)
        for (let i = 0; i < Math.min(sc.block, sc.requests - done); i++)
          samples.get(p.name)!.push((await p.complete!(CODE, CODE.length)).ms);
    const results = peers.map((p) => ({
      name: p.name,
      describe: WHAT[p.name] ?? p.describe,
      summary: summarize(samples.get(p.name)!),
    }));
    const by = (name: string): Summary => results.find((r) => r.name === name)!.summary;
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    const editor = by('quire-gateway-editor');
    const tuned = by('jupyter-server-nodelay');
    const out = [
      `completion from the live kernel (\`${CODE}\` on an object with 40 attributes), ${started}`,
      `machine at start: ${atStart}`,
      `machine at end:   ${machine()}`,
      `scenario: ${JSON.stringify(sc)}`,
      '',
      table(
        results.map((r) => [r.name, r.summary]),
        ['p50', 'p95', 'p99', 'max', 'mean'],
      ),
      '',
      `editor channel / Jupyter Server (TCP_NODELAY): p50 ${ratio(editor.p50, tuned.p50)}×, p95 ${ratio(editor.p95, tuned.p95)}×, p99 ${ratio(editor.p99, tuned.p99)}×`,
      '',
      ...results.map((r) => `- ${r.name}: ${r.describe}`),
    ].join('\n');
    process.stdout.write(`${out}\n`);
    const file = saveResults('completions', {
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
    process.stderr.write(`completions bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
