/**
 * Kernel start through the host-worker service, as the gateway and the
 * lifecycle see it: `POST /internal/kernels` on a real host-worker process
 * (its own state folder, warm pool of `--pool-target`), then a `pass` cell
 * over the NDJSON execute stream. A warm start includes attaching the user's
 * home volume to the pre-booted sandbox (two bind mounts) and moving the
 * kernel's working directory there. Cold starts ask for `warmPool: false`.
 *
 *   eval "$(npm run -s quire -- env)"
 *   npm run -w @quire/load-tests bench:kernel-start-service [-- --warm-starts 50 --cold-starts 10 --pool-target 2]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartKernelResponse } from '@quire/contracts';
import { freePort, startServiceProcess, stopServiceProcess } from '@quire/service-kit';
import { numberArgs } from '../lib/args';
import { saveResults, verdict } from '../lib/report';
import { machine, now, requireEnv, sleep, summarize, table } from '../lib/stats';

async function http<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Runs `pass` and resolves when the reply line arrived. */
async function pass(base: string, kernelId: string): Promise<void> {
  const text = await (
    await fetch(`${base}/internal/kernels/${kernelId}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'pass' }),
    })
  ).text();
  if (!text.includes('"type":"reply"')) throw new Error(`no reply to pass: ${text.slice(-300)}`);
}

async function main(): Promise<number> {
  requireEnv('QUIRE_KAFKA_BROKERS');
  requireEnv('QUIRE_KERNEL_ENV');
  const sc = numberArgs({ warmStarts: 50, coldStarts: 10, poolTarget: 2 });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const atStart = machine();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const started = new Date().toISOString();
  const hostWorker = await startServiceProcess({
    name: 'bench-kernel-start-host-worker',
    entry: 'services/host-worker/src/main.ts',
    port,
    env: {
      QUIRE_HOST_ID: `bench-${process.pid}`,
      QUIRE_HOST_STATE_DIR: mkdtempSync(join(tmpdir(), 'quire-bench-hw-')),
      QUIRE_VOLUMES_DIR: mkdtempSync(join(tmpdir(), 'quire-bench-volumes-')),
      QUIRE_HOST_WORKER_PORT: String(port),
      QUIRE_WARM_POOL_SIZE: String(sc.poolTarget),
      QUIRE_LOG_LEVEL: 'warn',
    },
    readyPollMs: 200,
    readyTimeoutMs: 120_000,
    sourceMaps: false, // as in production: no source-mapped stack traces slowing the measured service
    killWithParent: true,
  });
  log(`host worker ${hostWorker.url} (log: ${hostWorker.logFile})`);
  try {
    const poolFull = async () => {
      const t0 = now();
      for (;;) {
        const s = await http<{ ready: number; target: number }>(base, 'GET', '/internal/kernels/warm-pool');
        if (s.ready >= s.target) return now() - t0;
        if (now() - t0 > 180_000) throw new Error('the warm pool did not fill in 180 s');
        await sleep(50);
      }
    };
    const warmTotal: number[] = [];
    const warmStart: number[] = [];
    const refill: number[] = [];
    let misses = 0;
    log(`kernel start through the host worker: ${JSON.stringify(sc)}; waiting for the pool…`);
    await poolFull();
    for (let i = 0; i < sc.warmStarts; i++) {
      refill.push(await poolFull());
      const kernelId = `bench-warm-${process.pid}-${i}`;
      const t0 = now();
      const r = await http<StartKernelResponse>(base, 'POST', '/internal/kernels', {
        kernelId,
        tenant: 'bench',
        notebookId: `nb-${i}`,
        userId: `u-${i % 5}`,
      });
      const t1 = now();
      await pass(base, kernelId);
      const t2 = now();
      if (!r.fromWarmPool) misses++;
      warmStart.push(t1 - t0);
      warmTotal.push(t2 - t0);
      await http(base, 'DELETE', `/internal/kernels/${kernelId}`);
      if ((i + 1) % 10 === 0) log(`  warm ${i + 1}/${sc.warmStarts}`);
    }
    const coldTotal: number[] = [];
    for (let i = 0; i < sc.coldStarts; i++) {
      const kernelId = `bench-cold-${process.pid}-${i}`;
      const t0 = now();
      await http(base, 'POST', '/internal/kernels', {
        kernelId,
        tenant: 'bench',
        notebookId: `nb-c${i}`,
        userId: 'u-cold',
        warmPool: false,
      });
      await pass(base, kernelId);
      coldTotal.push(now() - t0);
      await http(base, 'DELETE', `/internal/kernels/${kernelId}`);
      log(`  cold ${i + 1}/${sc.coldStarts}`);
    }
    const warm = summarize(warmTotal);
    const cold = summarize(coldTotal);
    const out = [
      `kernel start through the host-worker service, ${started}`,
      `machine at start: ${atStart}`,
      `machine at end:   ${machine()}`,
      `scenario: ${JSON.stringify(sc)}; warm-pool misses: ${misses}`,
      '',
      table([
        ['warm: POST /internal/kernels → first `pass` answered', warm],
        ['warm: POST /internal/kernels answered (volume attached)', summarize(warmStart)],
        ['pool refill before each sample (delete → pool full)', summarize(refill)],
        ['cold (warmPool: false): POST → first `pass` answered', cold],
      ]),
      '',
      verdict('warm p99', warm.p99, 2000, 300),
      verdict('cold p99', cold.p99, 8000, 3000),
    ].join('\n');
    process.stdout.write(`${out}\n`);
    const file = saveResults('kernel-start-service', {
      started,
      scenario: sc,
      warmTotal,
      warmStart,
      refill,
      coldTotal,
      misses,
    });
    if (file) log(`raw results: ${file}`);
    return misses > 0 ? 1 : 0;
  } finally {
    await stopServiceProcess(hostWorker);
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`kernel-start-service failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
