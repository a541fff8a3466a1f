import { rmSync } from 'node:fs';
import type { AuthResponse, NotebookSummary } from '@quire/contracts';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accessibilityViolations } from './e2e/accessibility';
import { api, launchBrowser, screenshot, signedInContext } from './e2e/browser';
import { startEditorStack, type EditorStack } from './e2e/service-processes';
import { buildWebApp } from './e2e/web-build';

/**
 * The org switcher in Debian's Chromium against the real services: Dana has
 * her own org and joined Ann's by invitation. On the notebook list she picks
 * her own org in the header's switcher, sees that org's notebooks (and opens
 * one with the new session); signing in again lands in the org she used
 * last. Someone in one org sees just its name.
 */
jest.setTimeout(240_000);

const run = Date.now().toString(36);
const PASSWORD = 'correct horse battery';

describe('switching orgs in the web editor (browser, real services)', () => {
  let stack: EditorStack;
  let webDist: string;
  let browser: Browser;
  let base: string;
  let dana: AuthResponse;
  let ann: AuthResponse;
  let danaInTeam: AuthResponse;
  let danaNotes: NotebookSummary;
  let page: Page | undefined;
  const contexts: BrowserContext[] = [];

  /** A step that leaves a screenshot of the current page when it fails. */
  const it = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      try {
        await fn();
      } catch (err) {
        if (page)
          await screenshot(page, `FAILED-org-switch-${name.slice(0, 30).replace(/\W+/g, '-')}`).catch(
            () => undefined,
          );
        throw err;
      }
    });

  const signup = async (name: string, orgName: string) => {
    const r = await api<AuthResponse>(base, 'POST', '/api/auth/signup', {
      email: `${name.toLowerCase()}-${run}@example.com`,
      name,
      password: PASSWORD,
      orgName,
    });
    expect(r.status).toBe(201);
    return r.body;
  };
  const notebook = async (token: string, title: string) => {
    const r = await api<NotebookSummary>(base, 'POST', '/api/notebooks', { title }, token);
    expect(r.status).toBe(201);
    return r.body;
  };
  const storedOrg = async (p: Page) =>
    (JSON.parse((await p.evaluate(() => localStorage.getItem('quire.session')))!) as AuthResponse).org;

  beforeAll(async () => {
    webDist = await buildWebApp();
    stack = await startEditorStack({ webDist, runId: `org-switch-${run}` });
    base = stack.gateway.url;
    browser = await launchBrowser();
    // Dana's own org is the older one: landing in Team Org after sign-in is "last used", not "oldest".
    dana = await signup('Dana', 'Dana Org');
    ann = await signup('Ann', 'Team Org');
    danaNotes = await notebook(dana.token, 'Dana notes');
    const teamPlan = await notebook(ann.token, 'Team plan');
    const inv = await api<{ invite: string }>(
      base,
      'POST',
      '/api/org/invites',
      { email: dana.user.email, role: 'member' },
      ann.token,
    );
    expect(inv.status).toBe(201);
    const joined = await api<AuthResponse>(
      base,
      'POST',
      `/api/org/invites/${encodeURIComponent(inv.body.invite)}/accept`,
      undefined,
      dana.token,
    );
    expect(joined.status).toBe(200);
    danaInTeam = joined.body;
    const put = await api(
      base,
      'PUT',
      `/api/notebooks/${teamPlan.id}/shares`,
      { shares: [{ email: dana.user.email, role: 'viewer' }], link: 'none' },
      ann.token,
    );
    expect(put.status).toBe(200);
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    if (webDist) rmSync(webDist, { recursive: true, force: true });
  });

  it('Dana switches from Team Org to her own org in the header and sees its notebooks', async () => {
    const ctx = await signedInContext(browser, base, danaInTeam);
    contexts.push(ctx);
    page = await ctx.newPage();
    await page.goto('/');
    await page.getByRole('link', { name: 'Team plan' }).waitFor();
    const switcher = page.getByRole('combobox', { name: 'Organisation' });
    await switcher.waitFor();
    expect(await switcher.inputValue()).toBe(ann.org.id);
    expect(await switcher.locator('option').allTextContents()).toEqual(['Dana Org', 'Team Org']);

    await switcher.selectOption({ label: 'Dana Org' });
    await page.getByRole('link', { name: 'Dana notes' }).waitFor();
    expect(await page.getByRole('link', { name: 'Team plan' }).count()).toBe(0);
    expect(await page.getByRole('combobox', { name: 'Organisation' }).inputValue()).toBe(dana.org.id);
    expect(await storedOrg(page)).toEqual({ id: dana.org.id, name: 'Dana Org', role: 'admin' });
    // Admin of her own org: the Members button is back (she is a member, not an admin, in Team Org).
    await page.getByRole('button', { name: 'Members' }).waitFor();
    await screenshot(page, '25-org-switcher');
    expect(await accessibilityViolations(page)).toEqual([]); // axe-core: no serious/critical WCAG A/AA issue

    // The new session works in the editor: the notebook of this org opens and its kernel channel connects.
    await page.getByRole('link', { name: 'Dana notes' }).click();
    await page.waitForURL(new RegExp(`/notebooks/${danaNotes.id}$`));
    // Connected = the gateway sent a kernel state (a stale other-org token would be refused: "Connecting…").
    await page
      .locator('[data-testid="kernel-status"]:not([data-state="unknown"])')
      .waitFor({ timeout: 60_000 });
    expect(await page.getByRole('alert').count()).toBe(0);
  });

  it('signing in again lands in the org she used last', async () => {
    const ctx = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 860 } });
    contexts.push(ctx);
    page = await ctx.newPage();
    await page.goto('/');
    await page.getByLabel('Email').fill(dana.user.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('link', { name: 'Dana notes' }).waitFor();
    expect(await page.getByRole('combobox', { name: 'Organisation' }).inputValue()).toBe(dana.org.id);
    expect((await storedOrg(page)).id).toBe(dana.org.id);

    // And back to Team Org from here.
    await page.getByRole('combobox', { name: 'Organisation' }).selectOption({ label: 'Team Org' });
    await page.getByRole('link', { name: 'Team plan' }).waitFor();
    expect(await page.getByRole('link', { name: 'Dana notes' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Members' }).count()).toBe(0);
  });

  it('someone in one org sees its name and no switcher', async () => {
    const ctx = await signedInContext(browser, base, ann);
    contexts.push(ctx);
    page = await ctx.newPage();
    // The switcher decides from /api/me: wait for it, so "no switcher" is not just "not yet".
    const me = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/me' && r.ok());
    await page.goto('/');
    await page.getByRole('link', { name: 'Team plan' }).waitFor();
    await me;
    await page.locator('.topbar').getByText('Team Org').waitFor();
    expect(await page.getByRole('combobox', { name: 'Organisation' }).count()).toBe(0);
  });
});
