/**
 * Exact decimal arithmetic on bigints. Money and quantities never touch a
 * float: a decimal string is parsed into (integer, scale), computed on, and
 * rounded once, half away from zero, at a stated scale.
 */
export interface Scaled {
  int: bigint;
  scale: number;
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

export function parseDecimal(s: string): Scaled {
  const m = DECIMAL.exec(s.trim());
  if (!m) throw new Error(`not a decimal: ${s}`);
  const frac = m[3] ?? '';
  const int = BigInt(`${m[2]}${frac}`);
  return { int: m[1] ? -int : int, scale: frac.length };
}

export function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** num / den rounded half away from zero. */
export function divRound(num: bigint, den: bigint): bigint {
  if (den === 0n) throw new Error('division by zero');
  if (den < 0n) return divRound(-num, -den);
  const neg = num < 0n;
  const a = neg ? -num : num;
  let q = a / den;
  const r = a % den;
  if (r * 2n >= den) q += 1n;
  return neg ? -q : q;
}

export function formatScaled(v: bigint, scale: number): string {
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString().padStart(scale + 1, '0');
  const head = digits.slice(0, digits.length - scale);
  const tail = scale > 0 ? `.${digits.slice(digits.length - scale)}` : '';
  return `${neg ? '-' : ''}${head}${tail}`;
}

/** Rescales a decimal string to exactly `scale` places (rounding half away from zero). */
export function toScale(s: string, scale: number): bigint {
  const d = parseDecimal(s);
  if (d.scale <= scale) return d.int * pow10(scale - d.scale);
  return divRound(d.int, pow10(d.scale - scale));
}

export function addDecimal(a: string, b: string, scale: number): string {
  return formatScaled(toScale(a, scale) + toScale(b, scale), scale);
}

export function subDecimal(a: string, b: string, scale: number): string {
  return formatScaled(toScale(a, scale) - toScale(b, scale), scale);
}

/** round(base / factor, scale) as a decimal string. */
export function baseToQuantity(base: bigint, factor: bigint, scale: number): string {
  return formatScaled(divRound(base * pow10(scale), factor), scale);
}

/** round(base × unitPrice / factor, scale): the amount of `base` base units at `unitPrice` per unit. */
export function amountOf(base: bigint, factor: bigint, unitPrice: string, scale: number): string {
  const p = parseDecimal(unitPrice);
  return formatScaled(divRound(base * p.int * pow10(scale), factor * pow10(p.scale)), scale);
}

/** A JSON number (e.g. a CPU quota of 1.5) as an exact integer count of 1/10^scale units. */
export function numberToScaled(n: number, scale: number): bigint {
  if (!Number.isFinite(n)) throw new Error(`not a finite number: ${n}`);
  // String(n) is the shortest round-tripping decimal; exponent forms are expanded first.
  const s = Math.abs(n) < 1e-6 || Math.abs(n) >= 1e21 ? n.toFixed(20) : String(n);
  return toScale(s, scale);
}

export function compareDecimal(a: string, b: string): number {
  const sa = parseDecimal(a);
  const sb = parseDecimal(b);
  const scale = Math.max(sa.scale, sb.scale);
  const x = sa.int * pow10(scale - sa.scale);
  const y = sb.int * pow10(scale - sb.scale);
  return x < y ? -1 : x > y ? 1 : 0;
}
