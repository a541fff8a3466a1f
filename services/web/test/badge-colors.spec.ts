import { badgeStyle, relativeLuminance } from '../src/ui/badge-colors';

describe('badge colours', () => {
  it('puts dark text on light colours and white text on dark ones', () => {
    expect(badgeStyle('#f58231').color).toBe('#000'); // orange
    expect(badgeStyle('#3cb44b').color).toBe('#000'); // green
    expect(badgeStyle('#911eb4').color).toBe('#fff'); // purple
    expect(badgeStyle('#4363d8').color).toBe('#fff'); // blue
  });

  it('computes WCAG luminance, and leaves colours it cannot read with white text', () => {
    expect(relativeLuminance('#ffffff')).toBeCloseTo(1);
    expect(relativeLuminance('#000')).toBeCloseTo(0);
    expect(relativeLuminance('rebeccapurple')).toBeNull();
    expect(badgeStyle('rebeccapurple')).toEqual({ background: 'rebeccapurple', color: '#fff' });
  });
});
