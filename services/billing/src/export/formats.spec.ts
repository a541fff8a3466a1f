import { EXPORT_COLUMNS, toCsv, toParquet } from './formats';
import type { RatedLine } from './lines';

const line = (over: Partial<RatedLine> = {}): RatedLine => ({
  period: '2025-01',
  org: 'acme',
  user: 'ada',
  notebook: null,
  resource: 'cpu',
  sku: 'cpu/team',
  chargeTo: 'org',
  base: 3_750_000n,
  quantity: '3.750000000',
  unit: 'cpu-second',
  unitPrice: '0.0000125',
  amount: '0.000047',
  currency: 'USD',
  priced: true,
  eventCount: 2,
  firstEventTime: '2025-01-10T09:00:00.000Z',
  lastEventTime: '2025-01-10T09:00:02.500Z',
  ...over,
});

describe('export formats', () => {
  it('writes the stable CSV column set, quoting what needs it', () => {
    const csv = toCsv([line(), line({ user: 'o"brien, jr', firstEventTime: null })], 42n).toString('utf8');
    const rows = csv.split('\r\n');
    expect(rows[0]).toBe(EXPORT_COLUMNS.join(','));
    expect(rows[1]).toBe(
      '2025-01,acme,ada,,cpu,cpu/team,org,3.750000000,cpu-second,0.0000125,0.000047,USD,2,2025-01-10T09:00:00.000Z,2025-01-10T09:00:02.500Z,42',
    );
    expect(rows[2]).toContain('"o""brien, jr"');
    expect(rows[2]).toContain(',USD,2,,2025-01-10T09:00:02.500Z,42');
  });

  it('writes a Parquet file, byte for byte the same for the same lines', async () => {
    const a = await toParquet([line(), line({ user: null })], 7n);
    const b = await toParquet([line(), line({ user: null })], 7n);
    expect(a.subarray(0, 4).toString()).toBe('PAR1');
    expect(a.subarray(a.length - 4).toString()).toBe('PAR1');
    expect(a.equals(b)).toBe(true);
  });
});
