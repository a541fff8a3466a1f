import { rmSync } from 'node:fs';
import type { AuthResponse, NotebookSummary } from '@quire/contracts';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accessibilityViolations } from './e2e/accessibility';
import { api, launchBrowser, screenshot, signedInContext } from './e2e/browser';
import { startEditorStack, type EditorStack } from './e2e/service-processes';
import { buildWebApp } from './e2e/web-build';

/**
 * Org invitations and the kernel memory gauge in Debian's Chromium against
 * the real services: the owner invites Bob by email from the Members dialog,
 * Bob opens the link, signs up, and sees the notebook the owner shares with
 * him; a used link is refused with a clear message; someone with an account
 * in another org joins signed in. Then the owner's notebook shows its
 * kernel's memory; the gauge rises when a cell allocates 300 MB and turns
 * amber above 80 % of the kernel's limit.
 */
jest.setTimeout(240_000);

const run = Date.now().toString(36);
const PASSWORD = 'correct horse battery';
const MiB = 1024 * 1024;

describe('org invites and the memory gauge (browser, real services)', () => {
  let stack: EditorStack;
  let webDist: string;
  let browser: Browser;
  let base: string;
  let owner: AuthResponse;
  let notebook: NotebookSummary;
  let ownerCtx: BrowserContext;
  let o: Page;
  const contexts: BrowserContext[] = [];
  let inviteUrl: string;
  const bobEmail = `bob-${run}@example.com`;

  /** A step that leaves a screenshot of the owner's page when it fails. */
  const it = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      try {
        await fn();
      } catch (err) {
        if (o)
          await screenshot(o, `FAILED-invite-${name.slice(0, 30).replace(/\W+/g, '-')}`).catch(
            () => undefined,
          );
        throw err;
      }
    });

  const newContext = async () => {
    const ctx = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 860 } });
    contexts.push(ctx);
    return ctx;
  };

  beforeAll(async () => {
    webDist = await buildWebApp();
    stack = await startEditorStack({ webDist, runId: `invite-${run}` });
    base = stack.gateway.url;
    browser = await launchBrowser();
    const s = await api<AuthResponse>(base, 'POST', '/api/auth/signup', {
      email: `olivia-${run}@example.com`,
      name: 'Olivia Owner',
      password: PASSWORD,
      orgName: 'Invite E2E Org',
    });
    expect(s.status).toBe(201);
    owner = s.body;
    const nb = await api<NotebookSummary>(
      base,
      'POST',
      '/api/notebooks',
      { title: 'Team notebook' },
      owner.token,
    );
    expect(nb.status).toBe(201);
    notebook = nb.body;
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await ownerCtx?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    if (webDist) rmSync(webDist, { recursive: true, force: true });
  });

  it('the owner invites Bob by email from the Members dialog and gets a link to send', async () => {
    ownerCtx = await signedInContext(browser, base, owner);
    o = await ownerCtx.newPage();
    await o.goto('/');
    await o.getByRole('link', { name: 'Team notebook' }).waitFor();
    await o.getByRole('button', { name: 'Members' }).click();
    const dialog = o.getByRole('dialog', { name: 'Members' });
    await dialog.getByText(owner.user.email).waitFor();
    await dialog.getByLabel('Email of the person to invite').fill(bobEmail);
    await dialog.getByLabel('Org role').selectOption('member');
    await dialog.getByRole('button', { name: 'Invite', exact: true }).click();
    const link = dialog.getByRole('textbox', { name: 'Invite link' });
    await link.waitFor();
    inviteUrl = await link.inputValue();
    expect(inviteUrl).toMatch(new RegExp(`^${base}/join/[A-Za-z0-9_-]{20,}$`));
    await dialog.getByRole('group', { name: 'Pending invitations' }).getByText(bobEmail).waitFor();
    await screenshot(o, '20-members-invite');
    expect(await accessibilityViolations(o)).toEqual([]); // axe-core: no serious/critical WCAG A/AA issue
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  it('Bob opens the link, signs up, and is a member of the owner’s org', async () => {
    const page = await (await newContext()).newPage();
    await page.goto(inviteUrl);
    await page.getByRole('heading', { name: 'Join Invite E2E Org on Quire' }).waitFor();
    await page.getByText('Olivia Owner invited you to Invite E2E Org as a member').waitFor();
    // The invitation names his email: the form has it already.
    expect(await page.getByLabel('Email').inputValue()).toBe(bobEmail);
    await screenshot(page, '21-join-page');
    expect(await accessibilityViolations(page)).toEqual([]); // axe-core: no serious/critical WCAG A/AA issue
    await page.getByLabel('Name').fill('Bob Roe');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account and join' }).click();
    await page.getByRole('heading', { name: 'Notebooks' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    const bob = JSON.parse(
      (await page.evaluate(() => localStorage.getItem('quire.session')))!,
    ) as AuthResponse;
    expect(bob.org).toEqual({ id: owner.org.id, name: 'Invite E2E Org', role: 'member' });
    // A member is not an admin: no Members button; nothing is shared with him yet.
    await page.getByText('No notebooks yet').waitFor();
    expect(await page.getByRole('button', { name: 'Members' }).count()).toBe(0);

    // The owner sees him in the Members dialog, the invitation used up.
    await o.getByRole('button', { name: 'Members' }).click();
    const dialog = o.getByRole('dialog', { name: 'Members' });
    await dialog.getByRole('list', { name: 'Members' }).getByText('Bob Roe').waitFor();
    expect(await dialog.getByText(bobEmail).count()).toBe(1); // in members, no longer pending
    await dialog.getByRole('button', { name: 'Close' }).click();

    // Shared with him, the org's notebook appears in his list and opens.
    const put = await api(
      base,
      'PUT',
      `/api/notebooks/${notebook.id}/shares`,
      { shares: [{ email: bobEmail, role: 'editor' }], link: 'none' },
      owner.token,
    );
    expect(put.status).toBe(200);
    await page.reload();
    await page.getByRole('link', { name: 'Team notebook' }).click();
    await page.waitForURL(new RegExp(`/notebooks/${notebook.id}$`));
    await page.locator('[data-testid="kernel-status"]').waitFor();
    await screenshot(page, '22-bob-opens-shared-notebook');
  });

  it('a used link says so at once, and signing up with it anyway creates no account', async () => {
    const page = await (await newContext()).newPage();
    await page.goto(inviteUrl);
    await page.getByRole('heading', { name: 'This invitation does not work' }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'not valid (used or expired)' }).waitFor();
    expect(await page.getByLabel('Password').count()).toBe(0);
    const mallory = `mallory-${run}@example.com`;
    const token = decodeURIComponent(inviteUrl.split('/').pop()!);
    const signup = await api<{ code: string }>(base, 'POST', '/api/auth/signup', {
      email: mallory,
      name: 'Mallory',
      password: PASSWORD,
      invite: token,
    });
    expect(signup.status).toBe(400);
    expect(signup.body.code).toBe('auth.invite_invalid');
    const login = await api(base, 'POST', '/api/auth/login', { email: mallory, password: PASSWORD });
    expect(login.status).toBe(401);
  });

  it('someone signed in to another org joins as an admin with one click', async () => {
    const carol = (
      await api<AuthResponse>(base, 'POST', '/api/auth/signup', {
        email: `carol-${run}@example.com`,
        name: 'Carol Cole',
        password: PASSWORD,
        orgName: 'Carol Org',
      })
    ).body;
    await o.getByRole('button', { name: 'Members' }).click();
    const dialog = o.getByRole('dialog', { name: 'Members' });
    await dialog.getByLabel('Email of the person to invite').fill(carol.user.email);
    await dialog.getByLabel('Org role').selectOption('admin');
    await dialog.getByRole('button', { name: 'Invite', exact: true }).click();
    const url = await dialog.getByRole('textbox', { name: 'Invite link' }).inputValue();
    await dialog.getByRole('button', { name: 'Close' }).click();

    const page = await (await signedInContext(browser, base, carol)).newPage();
    await page.goto(url);
    await page.getByRole('heading', { name: 'Join Invite E2E Org' }).waitFor();
    await page.getByText('as an admin').waitFor();
    await page.getByRole('button', { name: 'Join as Carol Cole' }).click();
    await page.getByRole('heading', { name: 'Notebooks' }).waitFor();
    const s = JSON.parse((await page.evaluate(() => localStorage.getItem('quire.session')))!) as AuthResponse;
    expect(s.org).toEqual({ id: owner.org.id, name: 'Invite E2E Org', role: 'admin' });
    await page.getByRole('button', { name: 'Members' }).waitFor();
    await page.context().close();
  });

  it('the notebook shows its kernel’s memory, and the gauge rises when a cell allocates 300 MB', async () => {
    await o.goto(`/notebooks/${notebook.id}`);
    const meter = o.getByRole('meter', { name: 'Kernel memory' });
    // Opening the notebook starts its kernel; the first reading follows within a poll interval.
    await meter.waitFor({ timeout: 120_000 });
    const reading = async () => ({
      now: Number(await meter.getAttribute('aria-valuenow')),
      max: Number(await meter.getAttribute('aria-valuemax')),
      text: (await meter.getAttribute('aria-valuetext')) ?? '',
    });
    const first = await reading();
    expect(first.now).toBeGreaterThan(10 * MiB);
    expect(first.max).toBeGreaterThan(first.now);
    expect(first.text).toMatch(/^\d+(\.\d)? (MiB|GiB) of \d+(\.\d)? (MiB|GiB) \(\d+ %\)$/);
    expect(await o.locator('[data-testid="kernel-memory"]').textContent()).toMatch(/ (MiB|GiB) \/ /);

    await o.locator('[data-cell-index="1"] .cm-content').click();
    await o.keyboard.type('b = bytearray(300 * 1024 * 1024)');
    await o.keyboard.press('Shift+Enter');
    const deadline = Date.now() + 60_000;
    let last = first;
    while (last.now < first.now + 250 * MiB) {
      if (Date.now() > deadline) throw new Error(`memory did not rise: ${first.text} → ${last.text}`);
      await o.waitForTimeout(500);
      last = await reading();
    }
    await screenshot(o, '23-memory-gauge');
    expect(await accessibilityViolations(o)).toEqual([]); // axe-core: no serious/critical WCAG A/AA issue
    console.log(`memory gauge in the browser: ${first.text} → ${last.text}`);

    // Above 80 % of the limit the gauge turns amber (Shift-Enter left the cursor in a new cell 2).
    const budget = Math.floor((0.86 * last.max - last.now) / MiB);
    await o.locator('[data-cell-index="2"] .cm-content').click();
    await o.keyboard.type(`c = bytearray(${budget} * 1024 * 1024)`);
    await o.keyboard.press('Shift+Enter');
    await o.locator('[data-testid="kernel-memory"].memory-warn').waitFor({ timeout: 60_000 });
    const amber = await reading();
    expect(amber.now / amber.max).toBeGreaterThan(0.8);
    await screenshot(o, '24-memory-gauge-amber');
    console.log(`memory gauge amber at ${amber.text}`);
  });
});
