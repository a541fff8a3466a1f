import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Query, Res } from '@nestjs/common';
import { decimal, id } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import type { Response } from 'express';
import { z } from 'zod';
import { iso, inTransaction } from '../db';
import type { ExportRecord, Invoice } from '../export/exports';
import { monthStart, nextMonth, QUOTA_RESOURCES } from '../metering/meter';
import { baseToQuantity, compareDecimal, toScale } from '../money/decimal';
import { QUANTITY_SCALE, RESOURCES } from '../rating/resources';
import type { RebuildReport } from '../rebuild/rebuild';
import type { BillingStatus } from '../runtime/billing-runtime';
import {
  agentRunCharges,
  agentRunsOfMonth,
  type AgentRunCharges,
  type AgentRunSummary,
} from './agent-run-charges';
import { RuntimeHost } from '../runtime/runtime-host';

const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'a month like 2025-01');
const dateOrTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'a date (2025-01-01) or an RFC 3339 time')
  .transform((s) => Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s));

const exportBody = z.object({
  orgId: id,
  from: dateOrTime,
  to: dateOrTime,
  format: z.enum(['csv', 'parquet']),
  mode: z.enum(['full', 'incremental']).default('full'),
  hwm: z
    .string()
    .regex(/^\d+$/)
    .transform((s) => BigInt(s))
    .optional(),
});

const quotaBody = z.object({
  userId: id.nullable().optional(),
  quota: z.enum(['compute', 'gpu', 'agent']),
  monthlyLimit: decimal.refine((d) => compareDecimal(d, '0') > 0, 'must be positive'),
  hardCap: z.boolean().default(false),
});

function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) {
    throw new QuireError(
      'validation',
      r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
      'billing.invalid_request',
    );
  }
  return r.data;
}

export interface QuotaState {
  orgId: string;
  month: string;
  quotas: {
    userId: string | null;
    quota: 'compute' | 'gpu' | 'agent';
    unit: string;
    used: string;
    limit: string;
    usedFraction: number;
    state: 'ok' | 'warning' | 'exceeded';
    hardCap: boolean;
  }[];
  /** What the gateway / lifecycle should do for a new kernel of `userId` (or anyone, for org quotas). */
  newKernelsAllowed: boolean;
  message: string | null;
}

@Controller('api/billing')
export class BillingController {
  constructor(@Inject(RuntimeHost) private readonly host: RuntimeHost) {}

  @Get('status')
  async status(): Promise<BillingStatus> {
    return this.host.runtime.status();
  }

  /**
   * End-to-end billing lag (QUIRE_BILLING_LAG_SAMPLES=true): Kafka append of an event → commit of the
   * metering round that billed it, per dirty key (its oldest event), weighted by the key's events.
   */
  @Get('lag')
  async lag(
    @Query('since') since?: string,
  ): Promise<{ events: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null }> {
    const from = since ? parse(dateOrTime, since) : 0;
    const { pool, tables: t } = this.host.runtime;
    const { rows } = await pool.query<{
      events: string | null;
      p50: number | null;
      p99: number | null;
      max: number | null;
    }>(
      `SELECT count(*)::text AS events,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY s.lag_ms) AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY s.lag_ms) AS p99,
              max(s.lag_ms) AS max
         FROM ${t.lagSamples} s, generate_series(1, s.events) AS g
        WHERE s.metered_at >= $1`,
      [iso(from)],
    );
    const r = rows[0]!;
    return { events: Number(r.events ?? 0), p50Ms: r.p50, p99Ms: r.p99, maxMs: r.max };
  }

  @Get('orgs/:org/invoices/:month')
  async invoice(@Param('org') org: string, @Param('month') m: string): Promise<Invoice> {
    return this.host.exports.invoice(parse(id, org), parse(month, m));
  }

  @Get('orgs/:org/quota')
  async quota(
    @Param('org') org: string,
    @Query('month') m?: string,
    @Query('userId') userId?: string,
  ): Promise<QuotaState> {
    const orgId = parse(id, org);
    const start = m ? Date.parse(`${parse(month, m)}-01T00:00:00Z`) : monthStart(Date.now());
    const { pool, tables: t } = this.host.runtime;
    const { rows: quotas } = await pool.query<{
      user_id: string;
      quota: 'compute' | 'gpu' | 'agent';
      monthly_limit: string;
      hard_cap: boolean;
    }>(
      `SELECT user_id, quota, monthly_limit::text, hard_cap FROM ${t.quotas} WHERE org_id = $1 ORDER BY user_id, quota`,
      [orgId],
    );
    const { rows: used } = await pool.query<{
      user_id: string | null;
      resource: string;
      charge_to: string;
      base: string;
    }>(
      `SELECT user_id, resource, charge_to, sum(base_quantity)::text AS base FROM ${t.lines}
        WHERE org_id = $1 AND month = $2 GROUP BY 1, 2, 3`,
      [orgId, iso(start).slice(0, 10)],
    );
    const out: QuotaState['quotas'] = quotas.map((q) => {
      const spec = QUOTA_RESOURCES[q.quota];
      let base = 0n;
      for (const u of used) {
        if (u.resource !== spec.resource || u.charge_to !== spec.chargeTo) continue;
        if (q.user_id !== '' && u.user_id !== q.user_id) continue;
        base += BigInt(u.base);
      }
      const usedQ = baseToQuantity(base, RESOURCES[spec.resource].factor, QUANTITY_SCALE);
      const u9 = toScale(usedQ, QUANTITY_SCALE);
      const l9 = toScale(q.monthly_limit, QUANTITY_SCALE);
      return {
        userId: q.user_id || null,
        quota: q.quota,
        unit: spec.unit,
        used: usedQ,
        limit: q.monthly_limit,
        usedFraction: Number(usedQ) / Number(q.monthly_limit),
        state: u9 >= l9 ? 'exceeded' : u9 * 10n >= l9 * 8n ? 'warning' : 'ok',
        hardCap: q.hard_cap,
      };
    });
    const blocking = out.find(
      (q) =>
        q.state === 'exceeded' &&
        q.quota === 'compute' &&
        (q.userId === null || q.userId === (userId ?? null)),
    );
    return {
      orgId,
      month: iso(start).slice(0, 7),
      quotas: out,
      newKernelsAllowed: !blocking,
      message: blocking
        ? `Monthly compute quota used (${blocking.used} of ${blocking.limit} CPU-seconds${blocking.userId ? ` for ${blocking.userId}` : ''}): new kernels are refused until ${iso(nextMonth(start)).slice(0, 10)}.`
        : null,
    };
  }

  @Put('orgs/:org/quotas')
  async setQuota(@Param('org') org: string, @Body() body: unknown): Promise<QuotaState> {
    const orgId = parse(id, org);
    const q = parse(quotaBody, body);
    const { pool, tables: t, meter } = this.host.runtime;
    await inTransaction(pool, async (c) => {
      await c.query(
        `INSERT INTO ${t.quotas} (org_id, user_id, quota, monthly_limit, hard_cap) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (org_id, user_id, quota) DO UPDATE SET monthly_limit = EXCLUDED.monthly_limit,
                hard_cap = EXCLUDED.hard_cap, updated_at = clock_timestamp()`,
        [orgId, q.userId ?? '', q.quota, q.monthlyLimit, q.hardCap],
      );
      const { rows } = await c.query<{ month: Date }>(
        `SELECT DISTINCT month FROM ${t.lines} WHERE org_id = $1`,
        [orgId],
      );
      await meter.evaluateQuotas(
        c,
        rows.map((r) => ({ orgId, month: Date.UTC(r.month.getFullYear(), r.month.getMonth(), 1) })),
      );
    });
    return this.quota(org);
  }

  /** An agent run's charges (its own budget: tokens, steps, LLM cost), rated like invoice lines. */
  @Get('orgs/:org/agent-runs/:run/charges')
  async agentRunCharges(@Param('org') org: string, @Param('run') run: string): Promise<AgentRunCharges> {
    const { pool, tables: t, prices } = this.host.runtime;
    return agentRunCharges(pool, t, prices, parse(id, org), parse(id, run));
  }

  /** The agent runs charged in a month (default: this one), each with its totals. */
  @Get('orgs/:org/agent-runs')
  async agentRuns(
    @Param('org') org: string,
    @Query('month') m?: string,
  ): Promise<{ orgId: string; month: string; runs: AgentRunSummary[] }> {
    const orgId = parse(id, org);
    const start = m ? Date.parse(`${parse(month, m)}-01T00:00:00Z`) : monthStart(Date.now());
    const { pool, tables: t } = this.host.runtime;
    return {
      orgId,
      month: iso(start).slice(0, 7),
      runs: await agentRunsOfMonth(pool, t, orgId, start, nextMonth(start)),
    };
  }

  @Get('orgs/:org/kernels/:kernel/attribution')
  async attribution(@Param('org') org: string, @Param('kernel') kernel: string) {
    const { pool, tables: t } = this.host.runtime;
    const { rows } = await pool.query<{
      user_id: string | null;
      execution_id: string | null;
      cell_id: string | null;
      resource: keyof typeof RESOURCES;
      base: string;
    }>(
      `SELECT user_id, execution_id, cell_id, resource, sum(base_quantity)::text AS base FROM ${t.current}
        WHERE org_id = $1 AND kernel_id = $2 AND agent_run_id IS NULL
        GROUP BY 1, 2, 3, 4 HAVING sum(base_quantity) <> 0 ORDER BY 2 NULLS FIRST, 4`,
      [parse(id, org), parse(id, kernel)],
    );
    return {
      orgId: org,
      kernelId: kernel,
      rows: rows.map((r) => ({
        userId: r.user_id,
        executionId: r.execution_id,
        cellId: r.cell_id,
        resource: r.resource,
        quantity: baseToQuantity(BigInt(r.base), RESOURCES[r.resource].factor, QUANTITY_SCALE),
        unit: RESOURCES[r.resource].unit,
      })),
    };
  }

  @Post('exports')
  async createExport(@Body() body: unknown): Promise<ExportRecord> {
    const b = parse(exportBody, body);
    return this.host.exports.create({
      orgId: b.orgId,
      from: b.from,
      to: b.to,
      format: b.format,
      mode: b.mode,
      ...(b.hwm !== undefined ? { hwm: b.hwm } : {}),
    });
  }

  @Get('orgs/:org/exports')
  async listExports(@Param('org') org: string): Promise<ExportRecord[]> {
    return this.host.exports.list(parse(id, org));
  }

  @Get('exports/:id')
  async getExport(@Param('id') exportId: string): Promise<ExportRecord> {
    return this.host.exports.get(parse(z.uuid(), exportId));
  }

  @Get('exports/:id/download')
  async download(@Param('id') exportId: string, @Res() res: Response): Promise<void> {
    const { record, body } = await this.host.exports.open(parse(z.uuid(), exportId));
    const name = record.objectKey.split('/').slice(1).join('_');
    res.setHeader(
      'Content-Type',
      record.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/vnd.apache.parquet',
    );
    res.setHeader('Content-Disposition', `attachment; filename="${name}"`);
    res.setHeader('X-Quire-Ledger-Hwm', record.hwmTo);
    res.setHeader('X-Quire-Sha256', record.sha256);
    body.pipe(res);
  }

  @Post('rebuilds')
  @HttpCode(202)
  startRebuild(): RebuildReport {
    return this.host.rebuilds.start();
  }

  @Get('rebuilds/:id')
  getRebuild(@Param('id') rebuildId: string): RebuildReport {
    const r = this.host.rebuilds.get(rebuildId);
    if (!r)
      throw new QuireError(
        'not_found',
        `no rebuild ${rebuildId} (rebuilds are kept in memory by the API process)`,
        'billing.rebuild_not_found',
      );
    return r;
  }
}
