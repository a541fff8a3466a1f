import {
  addDecimal,
  amountOf,
  baseToQuantity,
  compareDecimal,
  divRound,
  formatScaled,
  numberToScaled,
  parseDecimal,
  subDecimal,
} from './decimal';

describe('exact decimals', () => {
  it('parses and formats without floats', () => {
    expect(parseDecimal('-12.0340')).toEqual({ int: -120340n, scale: 4 });
    expect(formatScaled(-5n, 3)).toBe('-0.005');
    expect(formatScaled(123456n, 2)).toBe('1234.56');
    expect(() => parseDecimal('1e3')).toThrow(/not a decimal/);
  });

  it('rounds half away from zero', () => {
    expect(divRound(5n, 2n)).toBe(3n);
    expect(divRound(-5n, 2n)).toBe(-3n);
    expect(divRound(4n, 3n)).toBe(1n);
    expect(divRound(7n, -2n)).toBe(-4n);
  });

  it('converts base units and rates them in one rounding', () => {
    // 1.5 cores for 2.5 s = 3_750_000 millicore-ms = 3.75 CPU-seconds.
    expect(baseToQuantity(3_750_000n, 1_000_000n, 9)).toBe('3.750000000');
    // 1 GiB for 1 ms = 0.001 GiB-seconds exactly.
    expect(baseToQuantity(2n ** 30n, 2n ** 30n * 1000n, 9)).toBe('0.001000000');
    // 3.75 CPU-s × 0.0000125 = 0.000046875 → 0.000047 at 6 places.
    expect(amountOf(3_750_000n, 1_000_000n, '0.0000125', 6)).toBe('0.000047');
    expect(amountOf(-3_750_000n, 1_000_000n, '0.0000125', 6)).toBe('-0.000047');
    // 1 GiB for one hour at 0.00014 per GiB-hour (the 3 in 3.6e6 makes this a repeating fraction otherwise).
    expect(amountOf(2n ** 30n * 3_600_000n, 2n ** 30n * 3_600_000n, '0.00014', 6)).toBe('0.000140');
  });

  it('adds, subtracts and compares at a scale', () => {
    expect(addDecimal('0.1', '0.2', 6)).toBe('0.300000');
    expect(subDecimal('1', '1.0000005', 6)).toBe('-0.000001');
    expect(compareDecimal('1.10', '1.1')).toBe(0);
    expect(compareDecimal('-2', '1')).toBe(-1);
  });

  it('turns JSON numbers into exact scaled integers', () => {
    expect(numberToScaled(1.5, 3)).toBe(1500n);
    expect(numberToScaled(0.1, 3)).toBe(100n);
    expect(numberToScaled(2.0005, 3)).toBe(2001n);
  });
});
