import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';

/**
 * Automated accessibility check with axe-core (WCAG 2.0/2.1 A and AA rules)
 * on the page as it is now. axe is evaluated through the DevTools protocol,
 * so the editor's Content-Security-Policy (no inline scripts) stays on.
 * Sandboxed output frames are skipped: their content is the user's HTML.
 */
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export interface AccessibilityViolation {
  rule: string;
  impact: string;
  help: string;
  /** CSS selectors of the offending elements (first few). */
  targets: string[];
}

export async function accessibilityViolations(
  page: Page,
  impacts: readonly string[] = ['serious', 'critical'],
): Promise<AccessibilityViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const found = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<AxeResults> } }
    ).axe;
    interface AxeResults {
      violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[];
    }
    const res = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      iframes: false,
    });
    return res.violations.map((v) => ({
      rule: v.id,
      impact: v.impact ?? 'unknown',
      help: v.help,
      targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
    }));
  });
  return found.filter((v) => impacts.includes(v.impact));
}
