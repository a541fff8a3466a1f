import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { LOAD_TIMEOUT_MS, type EditorTarget } from './editor-target';
import { jupyterLabVersion } from './jupyterlab-venv';
import { freePort, type Proc, stopProc } from './services';

/**
 * The peer: stock JupyterLab from the pinned venv, its own root dir holding
 * the same notebook as an .ipynb, a generated token, --no-browser, on 127.0.0.1.
 *
 * No kernel on open: the notebook is written with an empty kernelspec and
 * language (`{"kernelspec": {"name": "", "display_name": ""}, "language_info":
 * {"name": ""}}`, exactly what JupyterLab itself writes for a "No Kernel"
 * notebook, so opening it does not mark it modified), and JupyterLab's
 * "Automatically Start Preferred Kernel" (autoStartDefaultKernel) is left at its
 * default, false. JupyterLab then starts no kernel and shows its "Select
 * Kernel" dialog over the notebook, as for any notebook without a kernel; the
 * benchmark leaves the dialog open (nothing timed depends on it) and checks
 * after every load that the server has no kernel and no session and that the
 * notebook is not marked modified.
 *
 * Everything else as shipped, including the notebook's windowing mode
 * (4.6: "contentVisibility") and the default workspace being restored and saved.
 * Only the server's news feed and update check are switched off: after the
 * layout is restored they would reach outside the machine (an Atom feed, PyPI).
 * The "get notified about official Jupyter news?" toast still shows: that is a
 * client setting, left as shipped.
 */
const LAB_CONFIG = `# written by the Quire editor-open benchmark
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
`;

export async function startJupyterLab(
  venv: string,
  notebook: { metadata: object },
  logDir: string,
  log: (line: string) => void,
  firstCodeLine: string,
): Promise<EditorTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'quire-bench-jupyterlab-'));
  const root = join(dir, 'root');
  mkdirSync(root);
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config', 'jupyter_lab_config.py'), LAB_CONFIG);
  const file = 'bench-notebook.ipynb';
  // No kernel to start on open (see above); the rest of the metadata as the fixture has it.
  const metadata = {
    ...notebook.metadata,
    kernelspec: { display_name: '', name: '' },
    language_info: { name: '' },
  };
  writeFileSync(join(root, file), JSON.stringify({ ...notebook, metadata }, null, 1));

  const port = await freePort();
  const token = randomBytes(24).toString('hex');
  const base = `http://127.0.0.1:${port}`;
  const auth = { Authorization: `token ${token}` };
  mkdirSync(logDir, { recursive: true });
  const out = createWriteStream(join(logDir, 'jupyterlab.log'), { flags: 'a' });
  const child = spawn(
    join(venv, 'bin', 'jupyter-lab'),
    [
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.ip=127.0.0.1',
      `--IdentityProvider.token=${token}`,
      `--ServerApp.root_dir=${root}`,
      '--no-browser',
      '--allow-root',
    ],
    {
      env: {
        PATH: `${join(venv, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: dir,
        LANG: 'C.UTF-8',
        JUPYTER_CONFIG_DIR: join(dir, 'config'),
        JUPYTER_DATA_DIR: join(dir, 'data'),
        JUPYTER_RUNTIME_DIR: join(dir, 'runtime'),
        IPYTHONDIR: join(dir, 'ipython'),
        JUPYTER_PLATFORM_DIRS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const proc: Proc = { name: 'jupyterlab', url: base, child };
  // If this process exits without closing it (process.exit on a failure elsewhere), the server goes too.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const close = async () => {
    process.off('exit', killOnExit);
    await stopProc(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${base}${path}`, { headers: auth, signal: AbortSignal.timeout(5000) });
    if (!r.ok) throw new Error(`jupyterlab: GET ${path}: ${r.status}`);
    return (await r.json()) as T;
  };
  try {
    const end = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`jupyterlab exited with ${child.exitCode}; see ${logDir}/jupyterlab.log`);
      if (
        await api('/api/status').then(
          () => true,
          () => false,
        )
      )
        break;
      if (Date.now() > end) throw new Error(`jupyterlab not up in 60 s; see ${logDir}/jupyterlab.log`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // Reported as found, not assumed: the notebook's windowing mode in force (the shipped default).
    const tracker = await api<{
      settings?: { windowingMode?: string };
      schema?: { properties?: { windowingMode?: { default?: string } } };
    }>('/lab/api/settings/@jupyterlab/notebook-extension:tracker');
    const windowing =
      tracker.settings?.windowingMode ?? tracker.schema?.properties?.windowingMode?.default ?? 'unknown';
    log(`jupyterlab: ${base} (root ${root}, notebook windowing mode "${windowing}")`);
    const notebookUrlPart = `/api/contents/${file}?type=notebook`;
    return {
      name: 'jupyterlab',
      describe:
        `JupyterLab ${jupyterLabVersion()}, stock: /lab/tree/${file}?token=…, REST contents API, ` +
        `windowing mode as shipped ("${windowing}"), empty kernelspec → no kernel started, "Select Kernel" dialog left open`,
      url: `${base}/lab/tree/${file}?token=${token}`,
      prepare: async (ctx) => {
        // JupyterLab fetches well over 250 resources; keep them all so that the contents request is found.
        await ctx.addInitScript(() => performance.setResourceTimingBufferSize(5000));
      },
      waitEditable: async (page: Page) => {
        const handle = await page.waitForFunction(
          (line) => {
            // JupyterLab 4 edits cells with CodeMirror 6 as well; the first code cell's
            // editor must take typing and hold the notebook's text (the model loaded).
            const el = document.querySelector('.jp-NotebookPanel .jp-Notebook .jp-CodeCell .cm-content');
            return el &&
              el.getAttribute('contenteditable') === 'true' &&
              (el.textContent ?? '').startsWith(line)
              ? performance.now()
              : false;
          },
          firstCodeLine,
          { polling: 'raf', timeout: LOAD_TIMEOUT_MS },
        );
        return (await handle.jsonValue()) as number;
      },
      phases: (page: Page) =>
        page.evaluate((part) => {
          const nav = performance.getEntriesByType('navigation')[0] as
            PerformanceNavigationTiming | undefined;
          const m: Record<string, number> = { html: nav?.responseEnd ?? NaN };
          const resources = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
          // JupyterLab sets no marks; its first REST call (fetch) shows that the bundle runs.
          const api = resources.find(
            (e) => e.initiatorType === 'fetch' && new URL(e.name).pathname.startsWith('/api/'),
          );
          if (api) m['app-start'] = api.startTime;
          const nb = resources.find((e) => e.name.includes(part));
          if (nb) {
            m['notebook-requested'] = nb.startTime;
            m['notebook-received'] = nb.responseEnd;
          }
          return m;
        }, notebookUrlPart),
      phaseOrder: ['html', 'app-start', 'notebook-requested', 'notebook-received'],
      phaseLegend:
        'html = document received, app-start = its first REST call sent (bundle running), ' +
        'notebook-requested / -received = GET /api/contents/<notebook> sent / answered',
      checkAll: async (page: Page, n: number) => {
        await page.waitForFunction(
          (k) => document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell').length === k,
          n,
          { timeout: LOAD_TIMEOUT_MS },
        );
        const first = await page.locator('.jp-NotebookPanel .jp-Notebook .jp-Cell').first().textContent();
        if (!first?.includes('Step 1'))
          throw new Error(`jupyterlab: the first cell is not the notebook's: ${first}`);
        // A modified notebook would ask before every reload and change what warm loads measure.
        if (await page.locator('.lm-TabBar-tab.jp-mod-dirty').count())
          throw new Error('jupyterlab: opening the notebook marked it modified');
        const [kernels, sessions] = await Promise.all([
          api<unknown[]>('/api/kernels'),
          api<unknown[]>('/api/sessions'),
        ]);
        if (kernels.length || sessions.length)
          throw new Error(
            `jupyterlab started a kernel on open (${kernels.length} kernels, ${sessions.length} sessions): ` +
              'the comparison would include a kernel start',
          );
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
