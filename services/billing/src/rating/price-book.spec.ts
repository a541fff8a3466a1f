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
