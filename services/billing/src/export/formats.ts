import { PassThrough } from 'node:stream';
import type { RatedLine } from './lines';

// parquetjs-lite is plain JavaScript (no binary, CommonJS); see ./parquetjs-lite.d.ts.
import * as parquet from 'parquetjs-lite';

/**
 * The finance export's column set. Stable: new columns are only ever added
 * at the end; see README "Exports".
 */
export const EXPORT_COLUMNS = [
  'period',
  'org',
  'user',
  'notebook',
  'resource',
  'sku',
  'charge_to',
  'quantity',
  'unit',
  'unit_price',
  'amount',
  'currency',
  'event_count',
  'first_event_time',
  'last_event_time',
  'ledger_hwm',
] as const;

function row(l: RatedLine, hwm: bigint): Record<(typeof EXPORT_COLUMNS)[number], string | number | null> {
  return {
    period: l.period,
    org: l.org,
    user: l.user,
    notebook: l.notebook,
    resource: l.resource,
    sku: l.sku,
    charge_to: l.chargeTo,
    quantity: l.quantity,
    unit: l.unit,
    unit_price: l.unitPrice,
    amount: l.amount,
    currency: l.currency,
    event_count: l.eventCount,
    first_event_time: l.firstEventTime,
    last_event_time: l.lastEventTime,
    ledger_hwm: hwm.toString(),
  };
}

function csvCell(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(lines: readonly RatedLine[], hwm: bigint): Buffer {
  const out = [EXPORT_COLUMNS.join(',')];
  for (const l of lines) {
    const r = row(l, hwm);
    out.push(EXPORT_COLUMNS.map((c) => csvCell(r[c])).join(','));
  }
  return Buffer.from(`${out.join('\r\n')}\r\n`, 'utf8');
}

const parquetSchema = new parquet.ParquetSchema({
  period: { type: 'UTF8' },
  org: { type: 'UTF8' },
  user: { type: 'UTF8', optional: true },
  notebook: { type: 'UTF8', optional: true },
  resource: { type: 'UTF8' },
  sku: { type: 'UTF8' },
  charge_to: { type: 'UTF8' },
  // Exact decimals as strings: cast with DECIMAL(38, 9) / DECIMAL(38, 6) when reading.
  quantity: { type: 'UTF8' },
  unit: { type: 'UTF8' },
  unit_price: { type: 'UTF8' },
  amount: { type: 'UTF8' },
  currency: { type: 'UTF8' },
  event_count: { type: 'INT64' },
  first_event_time: { type: 'TIMESTAMP_MILLIS', optional: true },
  last_event_time: { type: 'TIMESTAMP_MILLIS', optional: true },
  ledger_hwm: { type: 'INT64' },
});

export async function toParquet(lines: readonly RatedLine[], hwm: bigint): Promise<Buffer> {
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  const writer = await parquet.ParquetWriter.openStream(parquetSchema, sink);
  for (const l of lines) {
    const r = row(l, hwm);
    const rec: Record<string, unknown> = {};
    for (const c of EXPORT_COLUMNS) {
      const v = r[c];
      if (v === null) continue;
      if (c === 'first_event_time' || c === 'last_event_time') rec[c] = new Date(String(v));
      else if (c === 'event_count' || c === 'ledger_hwm') rec[c] = Number(v);
      else rec[c] = v;
    }
    await writer.appendRow(rec);
  }
  await writer.close();
  return Buffer.concat(chunks);
}
