import { rmSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { LOAD_TIMEOUT_MS, type EditorTarget } from './editor-target';
import { buildWeb, freePort, startProc, stopProc, type Proc } from './services';

/**
 * Quire's editor: a fresh production build served by the real gateway, doc-sync
 * holding the notebook (imported through the gateway's API), a signed-up user
 * whose session the page finds in localStorage.
 */
export async function startQuire(
  notebook: object,
  cells: number,
  logDir: string,
  log: (line: string) => void,
): Promise<EditorTarget> {
  let docSync: Proc | undefined;
  let gateway: Proc | undefined;
  let dist: string | undefined;
  const close = async () => {
    await stopProc(gateway);
    await stopProc(docSync);
    if (dist) rmSync(dist, { recursive: true, force: true });
  };
  try {
    log('quire: building the editor (vite, production)…');
    dist = await buildWeb();
    const [gw, ds] = [await freePort(), await freePort()];
    docSync = await startProc(
      'doc-sync',
      'services/doc-sync/src/main.ts',
      ds,
      {
        QUIRE_DOC_SYNC_PORT: String(ds),
        QUIRE_ALLOWED_ORIGINS: `http://127.0.0.1:${gw}`,
        QUIRE_DOC_SYNC_PUBLISH: 'false',
      },
      logDir,
    );
    gateway = await startProc(
      'gateway',
      'services/gateway/src/main.ts',
      gw,
      {
        QUIRE_GATEWAY_PORT: String(gw),
        QUIRE_DOC_SYNC_URL: docSync.url,
        QUIRE_KERNEL_PROVIDER: 'direct',
        // Opening a notebook needs no kernel; nothing listens here.
        QUIRE_HOST_WORKER_URL: 'http://127.0.0.1:9',
        QUIRE_WEB_DIST: dist,
      },
      logDir,
    );
    const base = gateway.url;
    const signup = await fetch(`${base}/api/auth/signup`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        email: `bench-${Date.now()}@example.com`,
        name: 'Bench User',
        password: 'benchmark-password',
      }),
    });
    if (!signup.ok) throw new Error(`signup failed: ${signup.status} ${await signup.text()}`);
    const auth = (await signup.json()) as { token: string; expiresAt: string; user: unknown; org: unknown };
    const imported = await fetch(`${base}/api/notebooks/import?title=bench-${cells}-cells`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${auth.token}` },
      body: JSON.stringify(notebook),
    });
    if (imported.status !== 201)
      throw new Error(`import failed: ${imported.status} ${await imported.text()}`);
    const nb = (await imported.json()) as { id: string };
    const session = JSON.stringify({
      token: auth.token,
      expiresAt: auth.expiresAt,
      user: auth.user,
      org: auth.org,
    });
    log(`quire: gateway ${base}, doc-sync ${docSync.url}, notebook ${nb.id}`);
    return {
      name: 'quire',
      describe:
        'Quire: production build served by the gateway, document from doc-sync (Yjs), y-indexeddb copy',
      url: `${base}/notebooks/${nb.id}`,
      prepare: async (ctx) => {
        await ctx.addInitScript((s) => localStorage.setItem('quire.session', s), session);
      },
      waitEditable: async (page: Page) => {
        const handle = await page.waitForFunction(
          () => {
            // The first cell is markdown (rendered); the first code cell must take typing,
            // and the document must have synced (or come from the IndexedDB copy).
            const el = document.querySelector('section.cell-code .cm-content');
            const ready = document.querySelector('.cells[data-ready="true"]');
            return el && el.getAttribute('contenteditable') === 'true' && ready ? performance.now() : false;
          },
          undefined,
          { polling: 'raf', timeout: LOAD_TIMEOUT_MS },
        );
        return (await handle.jsonValue()) as number;
      },
      phases: (page: Page) =>
        page.evaluate(() => {
          const nav = performance.getEntriesByType('navigation')[0] as
            PerformanceNavigationTiming | undefined;
          const m: Record<string, number> = { html: nav?.responseEnd ?? NaN };
          for (const e of performance.getEntriesByType('mark'))
            if (e.name.startsWith('quire:')) m[e.name.slice(6)] ??= e.startTime;
          return m;
        }),
      phaseOrder: ['html', 'app-start', 'session', 'connect', 'local-copy', 'doc-synced'],
      phaseLegend:
        'html = document received, app-start = bundle parsed and run, session = GET /session answered, ' +
        'local-copy = IndexedDB copy shown, doc-synced = doc-sync sync done',
      checkAll: async (page: Page, n: number) => {
        // The editor renders cells progressively; all of them must arrive.
        await page.waitForFunction((k) => document.querySelectorAll('section.cell').length === k, n, {
          timeout: LOAD_TIMEOUT_MS,
        });
        const first = await page.locator('[data-cell-index="1"]').textContent();
        if (!first?.includes('Step 1'))
          throw new Error(`quire: the first cell is not the notebook's: ${first}`);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
