/**
 * Avatars and presence badges show initials on the person's colour. White text
 * is unreadable on a light colour (orange, green): pick black or white,
 * whichever has the higher WCAG contrast with the background.
 */
export function badgeStyle(background: string): { background: string; color: string } {
  const lum = relativeLuminance(background);
  if (lum === null) return { background, color: '#fff' };
  // Contrast with white: 1.05 / (L + 0.05); with black: (L + 0.05) / 0.05.
  const withWhite = 1.05 / (lum + 0.05);
  const withBlack = (lum + 0.05) / 0.05;
  return { background, color: withBlack > withWhite ? '#000' : '#fff' };
}

/** WCAG relative luminance of a #rgb or #rrggbb colour; null for anything else. */
export function relativeLuminance(color: string): number | null {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim());
  if (!m) return null;
  const hex = m[1]!.length === 3 ? [...m[1]!].map((c) => c + c).join('') : m[1]!;
  const [r, g, b] = [0, 2, 4].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}
