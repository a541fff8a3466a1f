import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { uuidv7 } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Pool } from 'pg';
import { iso, type Tables } from '../db';
import { nextMonth } from '../metering/meter';
import { AMOUNT_SCALE, DUE_SCALE } from '../rating/resources';
import type { PriceBooks } from '../rating/price-book';
import { formatScaled, toScale } from '../money/decimal';
import { toCsv, toParquet } from './formats';
import { diffLines, ratedLines, scopeHighWaterMark, sumAmounts, type RatedLine } from './lines';

export interface ExportRequest {
  orgId: string;
  from: number;
  to: number;
  format: 'csv' | 'parquet';
  mode: 'full' | 'incremental';
  /** Pin the ledger high-water mark (re-run an earlier export exactly); default: the ledger now. */
  hwm?: bigint;
}

export interface ExportRecord {
  id: string;
  orgId: string;
  from: string;
  to: string;
  format: 'csv' | 'parquet';
  mode: 'full' | 'incremental';
  hwmFrom: string;
  hwmTo: string;
  bucket: string;
  objectKey: string;
  sha256: string;
  bytes: number;
  rows: number;
  totalAmount: string;
  currency: string;
  createdAt: string;
  downloadPath: string;
}

export interface Invoice {
  orgId: string;
  month: string;
  periodStart: string;
  periodEnd: string;
  currency: string;
  highWaterMark: string;
  lines: Omit<RatedLine, 'base'>[];
  byResource: { resource: string; unit: string; quantity: string; amount: string }[];
  subtotal: string;
  totalDue: string;
  unpricedSkus: string[];
}

export class Exports {
  constructor(
    private readonly pool: Pool,
    private readonly t: Tables,
    private readonly prices: PriceBooks,
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async invoice(orgId: string, month: string): Promise<Invoice> {
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) {
      throw new QuireError('validation', `month must look like 2025-01, got "${month}"`, 'billing.bad_month');
    }
    const from = Date.parse(`${month}-01T00:00:00Z`);
    const to = nextMonth(from);
    const hwm = await scopeHighWaterMark(this.pool, this.t, orgId, from, to);
    const lines = await ratedLines(this.pool, this.t, this.prices, orgId, from, to, hwm);
    const byResource = new Map<
      string,
      { resource: string; unit: string; base: bigint; quantity: string; amount: string }
    >();
    for (const l of lines) {
      const r = byResource.get(l.resource) ?? {
        resource: l.resource,
        unit: l.unit,
        base: 0n,
        quantity: '0',
        amount: '0',
      };
      r.amount = formatScaled(
        toScale(r.amount, AMOUNT_SCALE) + toScale(l.amount, AMOUNT_SCALE),
        AMOUNT_SCALE,
      );
      r.quantity = formatScaled(toScale(r.quantity, 9) + toScale(l.quantity, 9), 9);
      byResource.set(l.resource, r);
    }
    const subtotal = sumAmounts(lines);
    return {
      orgId,
      month,
      periodStart: iso(from),
      periodEnd: iso(to),
      currency: lines[0]?.currency ?? this.prices.at(from).currency,
      highWaterMark: hwm.toString(),
      lines: lines.map(({ base: _base, ...rest }) => rest),
      byResource: [...byResource.values()].map(({ base: _b, ...r }) => r),
      subtotal,
      totalDue: formatScaled(toScale(subtotal, DUE_SCALE), DUE_SCALE),
      unpricedSkus: [...new Set(lines.filter((l) => !l.priced).map((l) => l.sku))],
    };
  }

  async create(req: ExportRequest): Promise<ExportRecord> {
    if (!(req.from < req.to))
      throw new QuireError('validation', '`from` must be before `to`', 'billing.bad_range');
    const scopeHwm = await scopeHighWaterMark(this.pool, this.t, req.orgId, req.from, req.to);
    const hwmTo = req.hwm ?? scopeHwm;
    if (hwmTo > scopeHwm) {
      throw new QuireError(
        'validation',
        `the ledger has no row ${hwmTo} for this org and period yet`,
        'billing.bad_hwm',
      );
    }
    let hwmFrom = 0n;
    if (req.mode === 'incremental') {
      const { rows } = await this.pool.query<{ h: string | null }>(
        `SELECT max(hwm_to)::text AS h FROM ${this.t.exports}
          WHERE org_id = $1 AND from_time = $2 AND to_time = $3 AND format = $4 AND hwm_to <= $5`,
        [req.orgId, iso(req.from), iso(req.to), req.format, hwmTo.toString()],
      );
      hwmFrom = BigInt(rows[0]?.h ?? '0');
    }
    const existing = await this.find(req, hwmFrom, hwmTo);
    if (existing) return existing;

    const newer = await ratedLines(this.pool, this.t, this.prices, req.orgId, req.from, req.to, hwmTo);
    const lines =
      hwmFrom > 0n
        ? diffLines(
            newer,
            await ratedLines(this.pool, this.t, this.prices, req.orgId, req.from, req.to, hwmFrom),
          )
        : newer;
    const body = req.format === 'csv' ? toCsv(lines, hwmTo) : await toParquet(lines, hwmTo);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const day = (ms: number) =>
      iso(ms)
        .replace(/[:.]/g, '')
        .replace(/0000Z$/, 'Z');
    const objectKey = `billing/${req.orgId}/${day(req.from)}_${day(req.to)}/${req.mode}-hwm-${hwmFrom}-${hwmTo}.${req.format}`;
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: objectKey,
        Body: body,
        ContentType: req.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/vnd.apache.parquet',
      }),
    );
    await this.pool.query(
      `INSERT INTO ${this.t.exports} (id, org_id, from_time, to_time, format, mode, hwm_from, hwm_to, bucket, object_key,
                                      sha256, bytes, rows, total_amount, currency)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
       ON CONFLICT (org_id, from_time, to_time, format, mode, hwm_from, hwm_to) DO NOTHING`,
      [
        uuidv7(),
        req.orgId,
        iso(req.from),
        iso(req.to),
        req.format,
        req.mode,
        hwmFrom.toString(),
        hwmTo.toString(),
        this.bucket,
        objectKey,
        sha256,
        body.length,
        lines.length,
        sumAmounts(lines),
        lines[0]?.currency ?? this.prices.at(req.from).currency,
      ],
    );
    return (await this.find(req, hwmFrom, hwmTo))!;
  }

  async get(id: string): Promise<ExportRecord> {
    const { rows } = await this.pool.query(`SELECT * FROM ${this.t.exports} WHERE id = $1`, [id]);
    if (!rows[0]) throw new QuireError('not_found', `no export ${id}`, 'billing.export_not_found');
    return toRecord(rows[0]);
  }

  async list(orgId: string): Promise<ExportRecord[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM ${this.t.exports} WHERE org_id = $1 ORDER BY created_at`,
      [orgId],
    );
    return rows.map(toRecord);
  }

  async open(id: string): Promise<{ record: ExportRecord; body: Readable }> {
    const record = await this.get(id);
    const obj = await this.s3.send(new GetObjectCommand({ Bucket: record.bucket, Key: record.objectKey }));
    return { record, body: obj.Body as Readable };
  }

  private async find(req: ExportRequest, hwmFrom: bigint, hwmTo: bigint): Promise<ExportRecord | undefined> {
    const { rows } = await this.pool.query(
      `SELECT * FROM ${this.t.exports} WHERE org_id = $1 AND from_time = $2 AND to_time = $3 AND format = $4
          AND mode = $5 AND hwm_from = $6 AND hwm_to = $7`,
      [req.orgId, iso(req.from), iso(req.to), req.format, req.mode, hwmFrom.toString(), hwmTo.toString()],
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function toRecord(r: any): ExportRecord {
  return {
    id: r.id,
    orgId: r.org_id,
    from: (r.from_time as Date).toISOString(),
    to: (r.to_time as Date).toISOString(),
    format: r.format,
    mode: r.mode,
    hwmFrom: String(r.hwm_from),
    hwmTo: String(r.hwm_to),
    bucket: r.bucket,
    objectKey: r.object_key,
    sha256: r.sha256,
    bytes: r.bytes,
    rows: r.rows,
    totalAmount: r.total_amount,
    currency: r.currency,
    createdAt: (r.created_at as Date).toISOString(),
    downloadPath: `/api/billing/exports/${r.id}/download`,
  };
}
