/**
 * Editor open: time from navigating to a notebook URL to an editable first
 * cell (the first code cell's CodeMirror contenteditable holding the
 * notebook's content; for Quire also the document synced from doc-sync; that
 * all cells then render is checked, not timed), for a 200-cell notebook, in
 * Debian's Chromium, side by side in one run with one browser:
 *
 *  - quire: the real gateway (serving the production build) and doc-sync;
 *  - jupyterlab (the peer): stock JupyterLab from a pinned venv, the same
 *    notebook as an .ipynb, no kernel started (see jupyterlab-peer.ts).
 *
 *  - cold: a fresh browser context per load (no HTTP cache, no IndexedDB copy);
 *  - warm: reloads in one context (assets cached; Quire's IndexedDB copy present).
 *
 * Loads alternate between the editors (which one goes first alternates too),
 * so both see the same machine. One unmeasured load of each first.
 *
 *   eval "$(npm run -s quire -- env)"
 *   npm run -w @quire/load-tests bench:editor-open [-- --loads 30 --warm-loads 30 --cells 200 --peer jupyterlab|none]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { saveResults } from '../lib/report';
import { machine, ms, requireEnv, summarize, table, type Summary } from '../lib/stats';
import { parseEditorOpenArgs } from './bench-options';
import { firstCodeLine, openOnce, type EditorTarget } from './editor-target';
import { startJupyterLab } from './jupyterlab-peer';
import { ensureJupyterLabVenv } from './jupyterlab-venv';
import { bigNotebook } from './notebook-fixture';
import { startQuire } from './quire-target';

const GOAL_MS = 1500;
const VIEWPORT = { width: 1280, height: 860 };

async function newPage(browser: Browser, target: EditorTarget): Promise<[BrowserContext, Page]> {
  const ctx = await browser.newContext({ viewport: VIEWPORT });
  await target.prepare(ctx);
  const page = await ctx.newPage();
  // Neither editor should ask before unloading; if one does, leave rather than hang.
  page.on('dialog', (d) => void d.accept());
  return [ctx, page];
}

interface Samples {
  cold: number[];
  warm: number[];
  coldPhases: Record<string, number[]>;
  warmPhases: Record<string, number[]>;
}

async function main(): Promise<number> {
  const sc = parseEditorOpenArgs(process.argv.slice(2));
  const stateDir = requireEnv('QUIRE_STATE_DIR');
  requireEnv('QUIRE_POSTGRES_URL');
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const atStart = machine();
  log(`editor-open: ${JSON.stringify(sc)} on ${atStart}`);
  const logDir = join(stateDir, 'bench', 'editor-open-logs');
  const notebook = bigNotebook(sc.cells);
  // Installed (once, cached) before anything starts, so a pip failure costs nothing else.
  const venv = sc.peer === 'jupyterlab' ? ensureJupyterLabVenv(log) : undefined;
  const targets: EditorTarget[] = [];
  let browser: Browser | undefined;
  try {
    targets.push(await startQuire(notebook, sc.cells, logDir, log));
    if (venv) targets.push(await startJupyterLab(venv, notebook, logDir, log, firstCodeLine(notebook)));
    browser = await chromium.launch({
      executablePath: process.env.QUIRE_CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-dev-shm-usage',
      ],
    });
    const samples = new Map<string, Samples>(
      targets.map((t) => [t.name, { cold: [], warm: [], coldPhases: {}, warmPhases: {} }]),
    );
    const s = (t: EditorTarget) => samples.get(t.name)!;
    /** Both editors in turn, the first one alternating with `i`. */
    const inTurn = (i: number) => (i % 2 === 0 ? targets : [...targets].reverse());

    // One unmeasured load each: doc-sync holds the document in memory, the servers are warm.
    // Its screenshot shows what was measured.
    const shots = join(stateDir, 'bench', 'editor-open-screenshots');
    mkdirSync(shots, { recursive: true });
    for (const t of targets) {
      const [ctx, page] = await newPage(browser, t);
      await openOnce(t, page, false, sc.cells, {});
      await page.screenshot({ path: join(shots, `${t.name}.png`) });
      await ctx.close();
    }
    log(`screenshots: ${shots}`);
    for (let i = 0; i < sc.loads; i++) {
      for (const t of inTurn(i)) {
        const [ctx, page] = await newPage(browser, t);
        s(t).cold.push(await openOnce(t, page, false, sc.cells, s(t).coldPhases));
        await ctx.close();
      }
    }
    log(`cold loads done (${sc.loads} each)`);
    const warmPages = new Map<string, [BrowserContext, Page]>();
    for (const t of targets) {
      const [ctx, page] = await newPage(browser, t);
      await openOnce(t, page, false, sc.cells, {}); // fills the cache (and Quire's IndexedDB copy)
      warmPages.set(t.name, [ctx, page]);
    }
    for (let i = 0; i < sc.warmLoads; i++) {
      for (const t of inTurn(i)) {
        const page = warmPages.get(t.name)![1];
        s(t).warm.push(await openOnce(t, page, true, sc.cells, s(t).warmPhases));
      }
    }
    for (const [ctx] of warmPages.values()) await ctx.close();
    log(`warm loads done (${sc.warmLoads} each)`);

    const sum = new Map(
      targets.map((t) => [t.name, { cold: summarize(s(t).cold), warm: summarize(s(t).warm) }]),
    );
    const rows: [string, Summary][] = [];
    for (const kind of ['cold', 'warm'] as const)
      for (const t of targets)
        rows.push([
          `${t.name} ${kind === 'cold' ? 'cold (new context, nothing cached)' : 'warm (reload in one context)'}`,
          sum.get(t.name)![kind],
        ]);
    const phaseRows: [string, Summary][] = [];
    for (const t of targets)
      for (const kind of ['cold', 'warm'] as const) {
        const p = kind === 'cold' ? s(t).coldPhases : s(t).warmPhases;
        for (const k of t.phaseOrder)
          if (p[k]?.length) phaseRows.push([`${t.name} ${kind}: ${k}`, summarize(p[k])]);
      }
    const quire = sum.get('quire')!;
    const lab = sum.get('jupyterlab');
    const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '—');
    const ratioRows = lab
      ? [
          '| Quire / JupyterLab | p50 | p95 | p99 |',
          '|---|---:|---:|---:|',
          ...(['cold', 'warm'] as const).map(
            (k) =>
              `| ${k} | ${ratio(quire[k].p50, lab[k].p50)} | ${ratio(quire[k].p95, lab[k].p95)} | ${ratio(quire[k].p99, lab[k].p99)} |`,
          ),
        ]
      : ['peer: none (--peer none)'];
    const coldP99 = quire.cold.p99;
    const out = [
      `editor open → editable first cell, ${sc.cells}-cell notebook, ${new Date().toISOString()}`,
      `machine at start: ${atStart}`,
      `machine at end:   ${machine()}`,
      `loads alternate between editors; ${sc.loads} cold + ${sc.warmLoads} warm each`,
      '',
      table(rows, ['p50', 'p95', 'p99', 'max', 'mean']),
      '',
      ...ratioRows,
      '',
      'where the time goes (ms since navigation start at each step):',
      ...targets.map((t) => `- ${t.name}: ${t.phaseLegend}`),
      '',
      table(phaseRows, ['p50', 'p99']),
      '',
      `goal < ${GOAL_MS} ms: Quire cold p99 ${ms(coldP99)} ms — ${coldP99 < GOAL_MS ? 'meets it' : 'MISSES it'}`,
      '',
      ...targets.map((t) => `- ${t.name}: ${t.describe}`),
    ].join('\n');
    process.stdout.write(`${out}\n`);
    const file = saveResults('editor-open', {
      scenario: sc,
      machine: { atStart, atEnd: machine() },
      targets: targets.map((t) => ({ name: t.name, describe: t.describe, ...s(t) })),
    });
    if (file) log(`raw results: ${file}`);
    return 0;
  } finally {
    await browser?.close().catch(() => undefined);
    for (const t of targets.reverse())
      await t.close().catch((e: Error) => log(`closing ${t.name}: ${e.message}`));
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`editor-open failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
