import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { PlatformError } from '../progress';

/**
 * `quire billing …`: finance's commands. They talk to the billing service's
 * HTTP API (QUIRE_BILLING_URL, default http://<bind host>:<QUIRE_BILLING_PORT
 * or 8093>) and never to its database: the API is the contract, so the CLI
 * works the same against a local platform and a cluster.
 */
export const BILLING_USAGE = `quire billing <command>

  status                                     the ledger: offsets, watermark, caught up or not
  invoice --org ORG --month YYYY-MM          invoice-style summary of one org and month
  quota --org ORG [--month YYYY-MM]          monthly quota state (what new kernels would be told)
  export --org ORG --from DATE --to DATE --format csv|parquet [--incremental] [--hwm N] [--out FILE]
                                             write the export to S3 (pinned to the ledger high-water
                                             mark) and download it (default file name from the export)
  rebuild                                    replay every stream from offset 0 into a fresh schema and
                                             compare its totals with the live ledger (exit 4 if they differ)

Set QUIRE_BILLING_URL to reach a billing service elsewhere.`;

export interface BillingCommandContext {
  config: { bindHost: string };
}

type Flags = Record<string, string | true>;

function parseFlags(args: string[]): { positional: string[]; flags: Flags } {
  const positional: string[] = [];
  const flags: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (inline !== undefined) flags[name] = inline;
    else if (args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) flags[name] = args[++i]!;
    else flags[name] = true;
  }
  return { positional, flags };
}

/** Rendered by the CLI like every other launcher error (problem + what to do). */
export class BillingCommandError extends PlatformError {
  constructor(problem: string, remedy: string) {
    super('billing', problem, remedy);
  }
}

function need(flags: Flags, name: string, example: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || !v) {
    throw new BillingCommandError(`missing --${name}`, `e.g. --${name} ${example}`);
  }
  return v;
}

function baseUrl(ctx: BillingCommandContext): string {
  const env = process.env.QUIRE_BILLING_URL;
  if (env) return env.replace(/\/+$/, '');
  return `http://${ctx.config.bindHost}:${process.env.QUIRE_BILLING_PORT || '8093'}`;
}

async function call<T>(ctx: BillingCommandContext, path: string, init?: RequestInit): Promise<T> {
  const url = `${baseUrl(ctx)}${path}`;
  let res: Response | undefined;
  // Reads are safe to repeat: a poll that meets a connection the busy service closed
  // (keep-alive timeout firing while its event loop was blocked) is tried again.
  const attempts = (init?.method ?? 'GET') === 'GET' ? 4 : 1;
  for (let attempt = 1; !res; attempt++) {
    try {
      res = await fetch(url, {
        ...init,
        headers: { 'content-type': 'application/json', ...(init?.headers ?? {}) },
      });
    } catch (err) {
      if (attempt < attempts) {
        await new Promise((r) => setTimeout(r, 500 * attempt));
        continue;
      }
      throw new BillingCommandError(
        `the billing service does not answer at ${baseUrl(ctx)} (${(err as Error).message})`,
        'start it (node -r @swc-node/register services/billing/src/main.ts with the platform env), or set QUIRE_BILLING_URL',
      );
    }
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = text;
    try {
      detail = (JSON.parse(text) as { detail?: string }).detail ?? text;
    } catch {
      // not problem+json
    }
    throw new BillingCommandError(
      `${init?.method ?? 'GET'} ${path} failed (${res.status}): ${detail}`,
      'check the arguments',
    );
  }
  return JSON.parse(text) as T;
}

interface ExportRecord {
  id: string;
  hwmFrom: string;
  hwmTo: string;
  objectKey: string;
  bucket: string;
  sha256: string;
  rows: number;
  totalAmount: string;
  currency: string;
  downloadPath: string;
}

interface InvoiceLine {
  user: string | null;
  notebook: string | null;
  resource: string;
  sku: string;
  quantity: string;
  unit: string;
  unitPrice: string;
  amount: string;
}

interface Invoice {
  orgId: string;
  month: string;
  currency: string;
  highWaterMark: string;
  lines: InvoiceLine[];
  byResource: { resource: string; unit: string; quantity: string; amount: string }[];
  subtotal: string;
  totalDue: string;
  unpricedSkus: string[];
}

interface RebuildReport {
  id: string;
  state: 'running' | 'done' | 'failed';
  schema: string;
  error?: string;
  sameInput?: boolean;
  identical?: boolean;
  live?: { digest: string; events: number; invoices: Record<string, string> };
  rebuilt?: { digest: string; events: number; invoices: Record<string, string> };
  differences?: { key: string; live: string | null; rebuilt: string | null }[];
}

const out = (line: string) => process.stdout.write(`${line}\n`);

export async function runBillingCommand(args: string[], ctx: BillingCommandContext): Promise<number> {
  const { positional, flags } = parseFlags(args);
  const [sub] = positional;
  switch (sub) {
    case 'status': {
      out(JSON.stringify(await call(ctx, '/api/billing/status'), null, 2));
      return 0;
    }
    case 'invoice': {
      const org = need(flags, 'org', 'acme');
      const month = need(flags, 'month', '2025-01');
      const inv = await call<Invoice>(ctx, `/api/billing/orgs/${encodeURIComponent(org)}/invoices/${month}`);
      out(`Invoice ${inv.orgId} ${inv.month} (${inv.currency}; ledger high-water mark ${inv.highWaterMark})`);
      for (const r of inv.byResource)
        out(
          `  ${r.resource.padEnd(18)} ${r.quantity.padStart(24)} ${r.unit.padEnd(11)} ${r.amount.padStart(16)}`,
        );
      out(`  ${'subtotal'.padEnd(55)} ${inv.subtotal.padStart(16)}`);
      out(`  ${'total due'.padEnd(55)} ${inv.totalDue.padStart(16)}`);
      if (inv.unpricedSkus.length)
        out(`  not in the price book (rated at 0): ${inv.unpricedSkus.join(', ')}`);
      return 0;
    }
    case 'quota': {
      const org = need(flags, 'org', 'acme');
      const month = typeof flags.month === 'string' ? `?month=${flags.month}` : '';
      out(
        JSON.stringify(
          await call(ctx, `/api/billing/orgs/${encodeURIComponent(org)}/quota${month}`),
          null,
          2,
        ),
      );
      return 0;
    }
    case 'export': {
      const format = need(flags, 'format', 'parquet');
      if (format !== 'csv' && format !== 'parquet') {
        throw new BillingCommandError(`--format must be csv or parquet, not ${format}`, '--format parquet');
      }
      const body = {
        orgId: need(flags, 'org', 'acme'),
        from: need(flags, 'from', '2025-01-01'),
        to: need(flags, 'to', '2025-02-01'),
        format,
        mode: flags.incremental ? 'incremental' : 'full',
        ...(typeof flags.hwm === 'string' ? { hwm: flags.hwm } : {}),
      };
      const rec = await call<ExportRecord>(ctx, '/api/billing/exports', {
        method: 'POST',
        body: JSON.stringify(body),
      });
      const file = resolve(
        typeof flags.out === 'string' ? flags.out : rec.objectKey.split('/').slice(1).join('_'),
      );
      const res = await fetch(`${baseUrl(ctx)}${rec.downloadPath}`);
      if (!res.ok || !res.body) throw new BillingCommandError(`download failed (${res.status})`, 'retry');
      await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream), createWriteStream(file));
      out(`export ${rec.id}: ${rec.rows} rows, total ${rec.totalAmount} ${rec.currency}`);
      out(
        `  ledger high-water mark ${rec.hwmTo}${rec.hwmFrom !== '0' ? ` (rows after ${rec.hwmFrom} only)` : ''}`,
      );
      out(`  s3://${rec.bucket}/${rec.objectKey}  sha256 ${rec.sha256}`);
      out(`  written to ${file}`);
      return 0;
    }
    case 'rebuild': {
      let rep = await call<RebuildReport>(ctx, '/api/billing/rebuilds', { method: 'POST', body: '{}' });
      out(`rebuilding into schema ${rep.schema} from offset 0 …`);
      const started = Date.now();
      while (rep.state === 'running') {
        await new Promise((r) => setTimeout(r, 500));
        rep = await call<RebuildReport>(ctx, `/api/billing/rebuilds/${rep.id}`);
      }
      if (rep.state === 'failed')
        throw new BillingCommandError(`rebuild failed: ${rep.error}`, 'see the billing service log');
      out(`replayed ${rep.rebuilt?.events} events in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      out(`  live ledger    totals ${rep.live?.digest}  events ${rep.live?.events}`);
      out(`  rebuilt ledger totals ${rep.rebuilt?.digest}  events ${rep.rebuilt?.events}`);
      for (const [k, v] of Object.entries(rep.live?.invoices ?? {})) {
        out(
          `  ${k.padEnd(40)} live ${v.padStart(16)}   rebuilt ${(rep.rebuilt?.invoices[k] ?? '-').padStart(16)}`,
        );
      }
      if (!rep.sameInput)
        out('  note: the live ledger has read a different part of the streams than the replay');
      if (rep.identical) {
        out('identical: the rebuilt ledger has the same totals as the live one');
        return 0;
      }
      out(`DIFFERENT: ${rep.differences?.length ?? 0} totals differ, e.g.`);
      for (const d of rep.differences?.slice(0, 10) ?? [])
        out(`  ${d.key}: live ${d.live} rebuilt ${d.rebuilt}`);
      return 4;
    }
    case undefined:
    case 'help':
      out(BILLING_USAGE);
      return 0;
    default:
      out(BILLING_USAGE);
      throw new BillingCommandError(`unknown billing command "${sub}"`, 'see the usage above');
  }
}
