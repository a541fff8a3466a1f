import type { BrowserContext, Page } from 'playwright-core';

/**
 * One editor under test (Quire or a peer), driven by the same browser the same
 * way: open `url` in a page, time navigation start → first code cell editable
 * with the notebook's content, then check (untimed) that every cell rendered.
 */
export interface EditorTarget {
  name: string;
  /** What it is and how it is set up, for the results. */
  describe: string;
  url: string;
  /** Prepares a fresh browser context (a session in localStorage, …) before its first page. */
  prepare(ctx: BrowserContext): Promise<void>;
  /** Waits in the page until the first code cell takes typing; returns performance.now() then. */
  waitEditable(page: Page): Promise<number>;
  /** Step marks of the load just timed, in ms since navigation start. */
  phases(page: Page): Promise<Record<string, number>>;
  /** The order in which `phases` keys happen, for the report. */
  phaseOrder: string[];
  /** What the phases mean, one line for the report. */
  phaseLegend: string;
  /** Untimed: all `cells` cells render and the first is the notebook's. */
  checkAll(page: Page, cells: number): Promise<void>;
  close(): Promise<void>;
}

/** How long one load may take before the run fails instead of hanging. */
export const LOAD_TIMEOUT_MS = 30_000;

/** The first line of the fixture's first code cell: what "content loaded" looks for. */
export function firstCodeLine(notebook: { cells: object[] }): string {
  const cell = notebook.cells.find((c) => (c as { cell_type: string }).cell_type === 'code') as
    { source: string } | undefined;
  if (!cell) throw new Error('the notebook has no code cell');
  return cell.source.split('\n')[0]!;
}

/** Opens (or reloads) the target's URL in `page`; returns ms from navigation start to editable. */
export async function openOnce(
  target: EditorTarget,
  page: Page,
  reload: boolean,
  cells: number,
  phases: Record<string, number[]>,
): Promise<number> {
  if (reload) await page.reload({ waitUntil: 'commit' });
  else await page.goto(target.url, { waitUntil: 'commit' });
  const t = await target.waitEditable(page);
  for (const [k, v] of Object.entries(await target.phases(page))) (phases[k] ??= []).push(v);
  await target.checkAll(page, cells);
  return t;
}
