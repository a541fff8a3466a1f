import { rmSync } from 'node:fs';
import type { AgentStepDto, AuthResponse, GpuOfferDto, NotebookSummary } from '@quire/contracts';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accessibilityViolations } from './e2e/accessibility';
import { api, launchBrowser, screenshot, signedInContext } from './e2e/browser';
import { FakeAgentServices } from './e2e/fake-agent-services';
import { startEditorStack, type EditorStack } from './e2e/service-processes';
import { buildWebApp } from './e2e/web-build';

/**
 * The Agent panel and the compute picker in Debian's Chromium, through the
 * real gateway, doc-sync and host worker, with a scripted agent service and
 * gpu-scheduler behind the gateway (the agent's own loop has its tests in
 * services/agent): Alice starts a review-mode dry run; Bob, a viewer, watches
 * the same run live; steps and a pending change appear in both browsers as
 * the agent service streams them; Alice accepts the change, stops the run and
 * undoes it. Alice picks an H100 for the notebook and Bob sees the choice.
 */
jest.setTimeout(300_000);

const run = Date.now().toString(36);
const PASSWORD = 'correct horse battery';
const INTERNAL_TOKEN = `e2e-internal-${run}-token`;

const offer = (tenant: string): GpuOfferDto => ({
  tenant,
  items: [
    {
      gpuType: 'h100-80gb',
      profile: 'full',
      label: 'H100 80GB',
      free: 1,
      queued: 0,
      runnable: true,
      note: null,
    },
    {
      gpuType: 'h100-80gb',
      profile: '1g.10gb',
      label: '1g.10gb slice of an H100',
      free: 7,
      queued: 0,
      runnable: false,
      note: 'no host can pass MIG slices to a sandbox yet',
    },
  ],
});

describe('Agent panel and compute picker (browser, real gateway, scripted agent service)', () => {
  let stack: EditorStack;
  let webDist: string;
  let browser: Browser;
  let base: string;
  let alice: AuthResponse;
  let bob: AuthResponse;
  let notebook: NotebookSummary;
  let a: Page;
  let b: Page;
  let runId: string;
  const contexts: BrowserContext[] = [];
  const fake = new FakeAgentServices(INTERNAL_TOKEN, offer);
  const saved: Record<string, string | undefined> = {};

  /** A step that leaves screenshots of both pages when it fails. */
  const it = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      try {
        await fn();
      } catch (err) {
        for (const [who, p] of [
          ['alice', a],
          ['bob', b],
        ] as const)
          if (p)
            await screenshot(p, `FAILED-agent-${who}-${name.slice(0, 30).replace(/\W+/g, '-')}`).catch(
              () => undefined,
            );
        throw err;
      }
    });

  beforeAll(async () => {
    await fake.start();
    // The stack's gateway inherits these: the fake stands in for both services.
    for (const [k, v] of Object.entries({
      QUIRE_AGENT_URL: fake.base,
      QUIRE_GPU_SCHEDULER_URL: fake.base,
      QUIRE_INTERNAL_TOKEN: INTERNAL_TOKEN,
    })) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    webDist = await buildWebApp();
    stack = await startEditorStack({ webDist, runId: `agent-panel-${run}` });
    base = stack.gateway.url;
    browser = await launchBrowser();
    const s = await api<AuthResponse>(base, 'POST', '/api/auth/signup', {
      email: `alice-agent-${run}@example.com`,
      name: 'Alice Agent',
      password: PASSWORD,
      orgName: 'Agent E2E Org',
    });
    expect(s.status).toBe(201);
    alice = s.body;
    const inv = await api<{ invite: string }>(base, 'POST', '/api/org/invites', {}, alice.token);
    expect(inv.status).toBe(201);
    const j = await api<AuthResponse>(base, 'POST', '/api/auth/signup', {
      email: `bob-agent-${run}@example.com`,
      name: 'Bob Watcher',
      password: PASSWORD,
      invite: inv.body.invite,
    });
    expect(j.status).toBe(201);
    bob = j.body;
    const nb = await api<NotebookSummary>(base, 'POST', '/api/notebooks', { title: 'Sales' }, alice.token);
    expect(nb.status).toBe(201);
    notebook = nb.body;
    const put = await api(
      base,
      'PUT',
      `/api/notebooks/${notebook.id}/shares`,
      { shares: [{ email: bob.user.email, role: 'viewer' }], link: 'none' },
      alice.token,
    );
    expect(put.status).toBe(200);
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    await fake.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (webDist) rmSync(webDist, { recursive: true, force: true });
  });

  const open = async (who: AuthResponse): Promise<Page> => {
    const ctx = await signedInContext(browser, base, who);
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(`/notebooks/${notebook.id}`);
    await page.locator('.cells[data-ready="true"]').waitFor();
    return page;
  };

  const step = (n: number, code: string): AgentStepDto => ({
    step: n,
    summary: `ran ${code}`,
    tool: 'run_cell',
    cellId: null,
    code,
    outputSummary: `   region  sales\n0  north   1200`,
    tokens: { prompt: 1200, completion: 34 },
    cost: '0.0021',
    execMs: 840,
    dryRun: true,
    at: new Date().toISOString(),
  });

  it('Alice starts a review-mode dry run from the Agent panel', async () => {
    a = await open(alice);
    await a.getByRole('button', { name: 'Agent', exact: true }).click();
    const panel = a.getByRole('complementary', { name: 'Agent' });
    await panel.getByLabel('Goal').fill('load sales.csv from my volume and find the anomalies');
    expect(await panel.getByRole('radio', { name: /Review/ }).isChecked()).toBe(true);
    await panel.getByRole('checkbox', { name: /Dry run/ }).check();
    await panel.getByRole('button', { name: 'Start agent' }).click();
    await panel.getByTestId('agent-status').getByText('Running — step 1').waitFor();
    const start = fake.received.find((r) => r.method === 'POST' && r.path === '/internal/agent-runs');
    expect(start?.body).toEqual({
      notebookId: notebook.id,
      goal: 'load sales.csv from my volume and find the anomalies',
      mode: 'review',
      dryRun: true,
    });
    runId = [...fake.runs.keys()][0]!;
    await a.locator(`[data-run-id="${runId}"]`).waitFor();
    // While it runs, no second run can be started from this panel.
    expect(await panel.getByRole('button', { name: 'Start agent' }).isDisabled()).toBe(true);
  });

  it('Bob, a viewer, watches the same run: no controls, the same stream', async () => {
    b = await open(bob);
    await b.getByRole('button', { name: 'Agent', exact: true }).click();
    const panel = b.getByRole('complementary', { name: 'Agent' });
    await panel.getByText('You can watch agent runs here').waitFor();
    expect(await panel.getByLabel('Goal').count()).toBe(0);
    await panel.getByText('load sales.csv from my volume and find the anomalies').waitFor();
    await waitFor(() => fake.watchers(runId) === 2);
    expect(await panel.getByRole('button', { name: 'Stop', exact: true }).count()).toBe(0);
  });

  it('steps appear live in both browsers with code, output, tokens and cost; the totals follow', async () => {
    fake.emit(runId, { type: 'token', step: 1, text: 'Reading the CSV' });
    for (const p of [a, b]) await p.getByText('Reading the CSV').waitFor();
    fake.emit(runId, { type: 'step', step: step(1, "df = pd.read_csv('sales.csv')") });
    for (const p of [a, b]) {
      const steps = p.getByRole('list', { name: 'Steps' });
      const first = steps.getByRole('listitem').filter({ hasText: 'Step 1' });
      await first.getByText("df = pd.read_csv('sales.csv')").first().waitFor();
      await first.getByText('1,234 tokens · cost 0.0021').waitFor();
      await first.getByText('dry run').waitFor();
      expect(await p.getByText('Reading the CSV').count()).toBe(0); // the draft became the step
      const totals = p.getByTestId('agent-totals');
      await totals.getByText('1 / 20').waitFor();
      await totals.getByText('1,234', { exact: true }).waitFor();
    }
    await screenshot(a, '40-agent-panel-step');
  });

  it('a pending change: Alice accepts it, Bob sees it without buttons', async () => {
    fake.update(runId, (r) => {
      r.status = 'awaiting_review';
      r.steps = [step(1, "df = pd.read_csv('sales.csv')")];
      r.changes = [
        {
          changeId: 'ch-1',
          kind: 'insert_cell',
          cellId: 'cell-proposed',
          source: 'df.describe()',
          status: 'pending',
        },
      ];
    });
    await a.getByText('Waiting for your review (1 pending change)').waitFor();
    await b.getByText('Waiting for your review (1 pending change)').waitFor();
    await b
      .getByRole('list', { name: /Pending changes/ })
      .getByText('df.describe()')
      .waitFor();
    expect(await b.getByRole('button', { name: /Accept/ }).count()).toBe(0);
    expect(await accessibilityViolations(a)).toEqual([]); // axe-core: no serious/critical WCAG A/AA issue
    expect(await accessibilityViolations(b)).toEqual([]);
    await screenshot(a, '41-agent-panel-review');
    await a.getByRole('button', { name: 'Accept change 1: New cell (not in the notebook)' }).click();
    await a.getByText('Running — step 2').waitFor();
    await b.getByText('Running — step 2').waitFor();
    const review = fake.received.find((r) => r.path === `/internal/agent-runs/${runId}/review`);
    expect(review?.body).toEqual({ decision: 'accept', changeIds: ['ch-1'] });
  });

  it('Alice stops the run; both see it stopped; she undoes it', async () => {
    await a.getByRole('button', { name: 'Stop', exact: true }).click();
    for (const p of [a, b]) await p.getByTestId('agent-status').getByText('Stopped').waitFor();
    expect(fake.received.some((r) => r.path === `/internal/agent-runs/${runId}/stop`)).toBe(true);
    await a.getByRole('button', { name: 'Undo run' }).click(); // the confirm() is accepted
    await a.getByText('Stopped — undone').waitFor();
    expect(fake.received.some((r) => r.path === `/internal/agent-runs/${runId}/undo`)).toBe(true);
    expect(await a.getByRole('button', { name: 'Start agent' }).isDisabled()).toBe(false);
  });

  it('Alice picks an H100 in the compute picker; Bob sees the choice; MIG slices say why they cannot run', async () => {
    const picker = a.getByLabel('Compute');
    await picker
      .locator('option', { hasText: 'H100 80GB — 1 free · 0 queued' })
      .waitFor({ state: 'attached' });
    const mig = picker.locator('option', { hasText: '1g.10gb slice of an H100' });
    expect(await mig.textContent()).toMatch(/not runnable: no host can pass MIG slices/);
    expect(await mig.isDisabled()).toBe(true);
    await picker.selectOption('gpu:h100-80gb:full');
    await waitForValue(b, 'gpu:h100-80gb:full');
    expect(await b.getByLabel('Compute').isDisabled()).toBe(true); // viewers cannot change it
    const asked = fake.received.filter((r) => r.path.startsWith('/api/gpu/offer'));
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((r) => r.path === `/api/gpu/offer?tenant=${encodeURIComponent(alice.org.id)}`)).toBe(
      true,
    );
    expect(await accessibilityViolations(a)).toEqual([]);
    await screenshot(a, '42-compute-picker');
  });
});

async function waitForValue(page: Page, value: string): Promise<void> {
  const until = Date.now() + 15_000;
  while ((await page.getByLabel('Compute').inputValue()) !== value) {
    if (Date.now() > until) throw new Error(`the compute picker never showed ${value}`);
    await page.waitForTimeout(100);
  }
}

async function waitFor(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
