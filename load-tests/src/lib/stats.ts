import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';

export interface Summary {
  n: number;
  mean: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
    min: s[0] ?? NaN,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
  };
}

export function ms(x: number): string {
  if (!Number.isFinite(x)) return '—';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** A markdown table of summaries, in milliseconds. */
export function table(
  rows: [string, Summary][],
  cols: (keyof Summary)[] = ['p50', 'p95', 'p99', 'max', 'mean'],
): string {
  const head = `| what | n | ${cols.map((c) => `${c} (ms)`).join(' | ')} |`;
  const sep = `|---|---:|${cols.map(() => '---:').join('|')}|`;
  const body = rows.map(([name, s]) => `| ${name} | ${s.n} | ${cols.map((c) => ms(s[c])).join(' | ')} |`);
  return [head, sep, ...body].join('\n');
}

export function machine(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM (${(freemem() / 1024 ** 3).toFixed(0)} free), Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

export function now(): number {
  return performance.now();
}

export function sleep(msToWait: number): Promise<void> {
  return new Promise((r) => setTimeout(r, msToWait));
}

/** Rejects after `timeoutMs` so that a lost reply fails the run instead of hanging it. */
export function withTimeout<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${timeoutMs} ms`)), timeoutMs);
    }),
  ]);
}

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`${name} is not set: run \`eval "$(npm run -s quire -- env)"\` first\n`);
    process.exit(2);
  }
  return v;
}
