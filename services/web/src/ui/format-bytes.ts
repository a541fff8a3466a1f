const KiB = 1024;
const MiB = KiB ** 2;
const GiB = KiB ** 3;

/** Bytes as people read them: "8 GiB", "1.2 GiB", "512 MiB", "900 KiB" (binary units, like the limits). */
export function formatBytes(bytes: number): string {
  const b = Math.max(0, bytes);
  const [unit, size] = b >= GiB ? ['GiB', GiB] : b >= MiB ? ['MiB', MiB] : b >= KiB ? ['KiB', KiB] : ['B', 1];
  const v = b / size!;
  // One decimal below 10 (1.2 GiB), none above (12 GiB); a whole number never shows ".0" (8 GiB).
  const text = v < 10 && unit !== 'B' ? v.toFixed(1).replace(/\.0$/, '') : String(Math.round(v));
  return `${text} ${unit}`;
}
