import { rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  type AuthResponse,
  type HostKernelSummary,
  type LifecycleSnapshot,
  type ListKernelsResponse,
  type NotebookSummary,
} from '@quire/contracts';
import { Client, Connection } from '@temporalio/client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { api, launchBrowser, screenshot, signedInContext } from './e2e/browser';
import { platformVar, startLifecycleEditorStack, type LifecycleEditorStack } from './e2e/service-processes';
import { buildWebApp } from './e2e/web-build';

/**
 * Issue #6: "a kernel hibernated by the lifecycle shows the banner and
 * restores on run with variables intact", in Debian's Chromium against the
 * production kernel path: gateway (QUIRE_KERNEL_PROVIDER=lifecycle) → the
 * kernelLifecycle workflow (real Temporal, real workflow worker) → a host
 * worker with gVisor. Nothing is restarted: the workflow's own idle timers
 * (shortened by the gateway's operator override, QUIRE_LIFECYCLE_POLICY_JSON)
 * hibernate the kernel, and the next run restores it.
 */
jest.setTimeout(300_000);

const run = Date.now().toString(36);
const cell = (n: number) => `[data-cell-index="${n}"]`;
/**
 * Idle 4 s after the last activity, hibernated 3 s later (room for the first step's checks on a
 * loaded machine); eviction far beyond the test.
 */
const POLICY = {
  idleAfterMs: 4000,
  hibernateAfterMs: 3000,
  evictAfterMs: 600_000,
  backgroundSnapshotEveryMs: null,
};

describe('web editor with the lifecycle kernel provider (browser, real services)', () => {
  let stack: LifecycleEditorStack;
  let webDist: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  let alice: AuthResponse;
  let notebook: NotebookSummary;
  let connection: Connection;
  let temporal: Client;

  const workflowState = () =>
    temporal.workflow
      .getHandle(kernelLifecycleWorkflowId(notebook.kernelId))
      .query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);
  const onHost = async (): Promise<HostKernelSummary | undefined> => {
    const res = await fetch(`${stack.hostWorker.url}/internal/kernels`);
    return ((await res.json()) as ListKernelsResponse).kernels.find((k) => k.kernelId === notebook.kernelId);
  };

  /** A test step that leaves a screenshot when it fails. */
  const it = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      try {
        await fn();
      } catch (err) {
        const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
        if (page) await screenshot(page, `FAILED-lifecycle-${slug}`).catch(() => undefined);
        throw err;
      }
    });

  beforeAll(async () => {
    const t0 = Date.now();
    webDist = await buildWebApp();
    const t1 = Date.now();
    stack = await startLifecycleEditorStack({ webDist, runId: run, policy: POLICY });
    console.info(`web build ${t1 - t0} ms, stack up ${Date.now() - t1} ms`);
    base = stack.gateway.url;
    connection = await Connection.connect({ address: platformVar('QUIRE_TEMPORAL_ADDRESS') });
    temporal = new Client({ connection });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    // The kernel's workflow would otherwise live on (and evict later) on a queue nobody polls any more.
    if (notebook && temporal)
      await temporal.workflow
        .getHandle(kernelLifecycleWorkflowId(notebook.kernelId))
        .signal(KERNEL_LIFECYCLE.terminateSignal, { reason: 'test done' })
        .catch(() => undefined);
    if (notebook && temporal) {
      const end = Date.now() + 30_000;
      while (Date.now() < end) {
        const d = await temporal.workflow
          .getHandle(kernelLifecycleWorkflowId(notebook.kernelId))
          .describe()
          .catch(() => undefined);
        if (!d || d.status.name !== 'RUNNING') break;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await stack?.stop();
    if (webDist) rmSync(webDist, { recursive: true, force: true });
  });

  it('runs a cell on a kernel the lifecycle workflow placed on this stack’s host', async () => {
    const signup = await api<AuthResponse>(base, 'POST', '/api/auth/signup', {
      email: `lifecycle-${run}@example.com`,
      name: 'Ada Lovelace',
      password: 'correct horse battery',
    });
    expect(signup.status).toBe(201);
    alice = signup.body;
    const created = await api<NotebookSummary>(
      base,
      'POST',
      '/api/notebooks',
      { title: `Lifecycle ${run}` },
      alice.token,
    );
    expect(created.status).toBe(201);
    notebook = created.body;

    context = await signedInContext(browser, base, alice);
    page = await context.newPage();
    await page.goto(`/notebooks/${notebook.id}`);
    await page.locator(`${cell(1)} .cm-content`).click();
    await page.keyboard.insertText('x = 41');
    await page.keyboard.press('Shift+Enter');
    await page.locator(`${cell(1)} .prompt`, { hasText: /^\[1\]$/ }).waitFor({ timeout: 120_000 });
    await page.locator('[data-testid="kernel-status"][data-state="idle"]').waitFor({ timeout: 30_000 });

    const state = await workflowState();
    expect(state.policy).toMatchObject(POLICY);
    expect(state.hostApiUrl).toBe(stack.hostWorker.url);
    expect((await onHost())?.state).toBe('running');
  });

  it('the lifecycle hibernates the idle kernel: the bar says so and the sandbox is gone', async () => {
    const hostPid = stack.hostWorker.child.pid;
    await recordKernelStates(page);
    const bar = page.locator('[data-testid="kernel-status"][data-state="hibernated"]');
    await bar.waitFor({ timeout: 90_000 });
    expect(await bar.textContent()).toContain('Kernel hibernated');
    expect(await bar.textContent()).toContain('restores when you run a cell');
    await screenshot(page, '10-lifecycle-hibernated');

    // The workflow's timers did it (RUNNING → IDLE → HIBERNATED), not a host-worker restart.
    const state = await workflowState();
    expect(state.state).toBe('HIBERNATED');
    expect(state.history.map((h) => `${h.from}→${h.to}:${h.reason}`).slice(-2)).toEqual([
      'RUNNING→IDLE:no activity',
      'IDLE→HIBERNATED:idle',
    ]);
    expect(stack.hostWorker.child.pid).toBe(hostPid);
    expect(stack.hostWorker.child.exitCode).toBeNull();

    // Memory really freed: the host keeps only the snapshot; runsc has no sandbox for it any more.
    const k = await onHost();
    expect(k).toMatchObject({ state: 'hibernated', lastSnapshotId: state.lastSnapshot?.snapshotId });
    const sandboxes = runscList(stack.hostStateDir);
    expect(sandboxes).not.toContain(k!.sandboxId);
  });

  it('running a cell restores it (“Restoring kernel…”) with the variables intact', async () => {
    await page.locator(`${cell(2)} .cm-content`).click();
    await page.keyboard.insertText('x + 1');
    // A picture of the restore while it lasts (about a second); the states recorded below are the check.
    const restoringShot = page
      .locator('[data-testid="kernel-status"][data-state="restoring"]')
      .waitFor({ timeout: 30_000 })
      .then(() => screenshot(page, '11-lifecycle-restoring'))
      .catch(() => undefined);
    await page.keyboard.press('Shift+Enter');
    await page.locator(`${cell(2)} .outputs`, { hasText: '42' }).waitFor({ timeout: 120_000 });
    await page.locator('[data-testid="kernel-status"][data-state="idle"]').waitFor({ timeout: 30_000 });
    await restoringShot;
    await screenshot(page, '12-lifecycle-restored');

    const seen = await page.evaluate(() => (window as unknown as { kernelStates: string[] }).kernelStates);
    // Words for people, not the workflow's "restore s-… on <host>".
    expect(seen).toContain('restoring: Restoring kernel… | bringing back your variables from the snapshot');
    // Restoring came after hibernated, and it never claimed to be a new kernel starting.
    expect(seen.findIndex((s) => s.startsWith('restoring'))).toBeGreaterThan(
      seen.findIndex((s) => s.startsWith('hibernated')),
    );
    expect(seen.filter((s) => s.startsWith('starting'))).toEqual([]);
    expect(await page.locator(`${cell(2)} .outputs`).textContent()).toContain('42');

    const state = await workflowState();
    expect(['RUNNING', 'IDLE', 'HIBERNATED']).toContain(state.state);
    expect(state.history.map((h) => `${h.from}→${h.to}`)).toEqual(
      expect.arrayContaining(['HIBERNATED→RESTORE', 'RESTORE→RUNNING']),
    );
  });
});

/** Records every state (and label) the kernel status bar shows from now on, in `window.kernelStates`. */
async function recordKernelStates(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { kernelStates: string[] };
    w.kernelStates = [];
    const bar = document.querySelector('[data-testid="kernel-status"]')!;
    const record = () => {
      const label = bar.querySelector('.kernel-label')?.textContent ?? '';
      const detail = bar.querySelector('.kernel-detail')?.textContent ?? '';
      const entry = `${bar.getAttribute('data-state') ?? ''}: ${label} | ${detail}`;
      if (w.kernelStates[w.kernelStates.length - 1] !== entry) w.kernelStates.push(entry);
    };
    record();
    new MutationObserver(record).observe(bar, {
      attributes: true,
      attributeFilter: ['data-state'],
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
}

/** Sandbox ids runsc knows under the host's state folder (what really holds memory). */
function runscList(hostStateDir: string): string[] {
  const runsc = process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc';
  const r = spawnSync(runsc, ['--root', join(hostStateDir, 'runsc'), 'list', '--format=json'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`runsc list failed: ${r.stderr}`);
  return ((JSON.parse(r.stdout || '[]') as { id: string }[] | null) ?? []).map((c) => c.id);
}
