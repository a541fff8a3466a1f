import { join } from 'node:path';
import { PriceBooks, type PriceBookDoc } from './price-book';

describe('price book', () => {
  const books = PriceBooks.load(join(__dirname, '..', '..', 'price-book'));

  it('prices per tier, per GPU type and slice, and agent usage', () => {
    const t = Date.UTC(2025, 5, 1);
    expect(books.price('cpu/team', 'cpu', t)).toMatchObject({
      unitPrice: '0.0000125',
      currency: 'USD',
      priced: true,
    });
    expect(books.price('cpu/free', 'cpu', t).unitPrice).toBe('0');
    expect(books.price('gpu/a100/1g.10gb', 'gpu', t).unitPrice).toBe('0.000135');
    expect(books.price('gpu/h100/full', 'gpu', t).unitPrice).toBe('0.00155');
    expect(books.price('agent-tokens', 'agent-tokens', t).unitPrice).toBe('0.000003');
  });

  it('prices the gpu-scheduler’s GPU type keys, whole GPUs and every MIG profile of H100, H200 and A100', () => {
    const t = Date.UTC(2026, 11, 1);
    const profiles: Record<string, string[]> = {
      'h100-80gb': ['full', '1g.10gb', '1g.20gb', '2g.20gb', '3g.40gb', '4g.40gb', '7g.80gb'],
      'h200-141gb': ['full', '1g.18gb', '1g.35gb', '2g.35gb', '3g.71gb', '4g.71gb', '7g.141gb'],
      'a100-40gb': ['full', '1g.5gb', '2g.10gb', '3g.20gb', '4g.20gb', '7g.40gb'],
      'a100-80gb': ['full', '1g.10gb', '1g.20gb', '2g.20gb', '3g.40gb', '4g.40gb', '7g.80gb'],
    };
    for (const [gpuType, list] of Object.entries(profiles)) {
      const full = Number(books.price(`gpu/${gpuType}/full`, 'gpu', t).unitPrice);
      for (const profile of list) {
        const p = books.price(`gpu/${gpuType}/${profile}`, 'gpu', t);
        expect({ sku: `${gpuType}/${profile}`, priced: p.priced }).toEqual({
          sku: `${gpuType}/${profile}`,
          priced: true,
        });
        // A slice never costs more than the whole GPU, and a bigger slice never less than a smaller one.
        expect(Number(p.unitPrice)).toBeGreaterThan(0);
        expect(Number(p.unitPrice)).toBeLessThanOrEqual(full);
      }
      const prices = list
        .slice(1)
        .map((pr) => Number(books.price(`gpu/${gpuType}/${pr}`, 'gpu', t).unitPrice));
      expect([...prices].sort((a, b) => a - b)).toEqual(prices);
    }
    expect(books.price('gpu/h100-80gb/full', 'gpu', t).unitPrice).toBe('0.00155');
    expect(books.price('gpu/h200-141gb/3g.71gb', 'gpu', t).unitPrice).toBe('0.00084');
  });

  it('rates an unknown SKU at 0 and says so', () => {
    expect(books.price('gpu/tpu9/full', 'gpu', Date.UTC(2025, 0, 1))).toMatchObject({
      unitPrice: '0',
      priced: false,
    });
  });

  it('uses the book in effect at the start of the period', () => {
    const base = books.at(0);
    const newer: PriceBookDoc = {
      ...base,
      id: 'next',
      effectiveFrom: '2025-07-01T00:00:00Z',
      tiers: { ...base.tiers, team: { ...base.tiers.team, cpu: '0.00002' } },
    };
    const both = new PriceBooks([base, newer]);
    expect(both.price('cpu/team', 'cpu', Date.UTC(2025, 5, 1)).unitPrice).toBe('0.0000125');
    expect(both.price('cpu/team', 'cpu', Date.UTC(2025, 6, 1)).unitPrice).toBe('0.00002');
  });

  it('has tier default sizes for kernels whose sandbox was never reported', () => {
    expect(books.tierDefaults('free', 0)).toEqual({ millicores: 1000n, memoryBytes: 1073741824n });
  });
});
