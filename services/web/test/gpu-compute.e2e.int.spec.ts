import { rmSync } from 'node:fs';
import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  ResourceSample,
  type AuthResponse,
  type GpuOfferDto,
  type HostKernelSummary,
  type ListKernelsResponse,
  type LifecycleSnapshot,
  type NotebookSummary,
} from '@quire/contracts';
import { createKafka, createProducer, EventProducer } from '@quire/contracts/kafka';
import { Client, Connection } from '@temporalio/client';
import type { Producer } from 'kafkajs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { accessibilityViolations } from './e2e/accessibility';
import { api, launchBrowser, screenshot, signedInContext } from './e2e/browser';
import { FakeGpuScheduler } from './e2e/fake-gpu-scheduler';
import { platformVar, startLifecycleEditorStack, type LifecycleEditorStack } from './e2e/service-processes';
import { buildWebApp } from './e2e/web-build';

/**
 * GPU notebooks in Debian's Chromium on the production kernel path (gateway
 * with the lifecycle provider → kernelLifecycle workflow on real Temporal →
 * host worker with gVisor), with a scripted gpu-scheduler behind both the
 * gateway (the offer) and the workflow's activities (the queue). The GPU
 * memory reading is the one a GPU host's worker would publish
 * (host.events.v1 ResourceSample `gpu`), written to the real Kafka by the
 * test because this machine has no GPU: it goes through the gateway's status
 * feed to the gauge like any reading.
 */
jest.setTimeout(300_000);

const run = Date.now().toString(36);
const cell = (n: number) => `[data-cell-index="${n}"]`;
const INTERNAL_TOKEN = `e2e-internal-${run}-gpu`;
const GiB = 1024 ** 3;
const offer = (tenant: string): GpuOfferDto => ({
  tenant,
  items: [
    {
      gpuType: 'h100-80gb',
      profile: 'full',
      label: 'H100 80GB',
      free: 0,
      queued: 1,
      runnable: true,
      note: null,
    },
  ],
});

describe('GPU notebooks in the editor (browser, real services, scripted scheduler)', () => {
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
  let producer: Producer;
  const scheduler = new FakeGpuScheduler(INTERNAL_TOKEN, offer);
  const saved: Record<string, string | undefined> = {};

  const it = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      try {
        await fn();
      } catch (err) {
        const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
        if (page) await screenshot(page, `FAILED-gpu-${slug}`).catch(() => undefined);
        throw err;
      }
    });

  beforeAll(async () => {
    await scheduler.start();
    // The stack's gateway and workflow worker inherit these.
    for (const [k, v] of Object.entries({
      QUIRE_GPU_SCHEDULER_URL: scheduler.base,
      QUIRE_INTERNAL_TOKEN: INTERNAL_TOKEN,
      QUIRE_GPU_QUEUE_POLL_MS: '500',
    })) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    webDist = await buildWebApp();
    stack = await startLifecycleEditorStack({
      webDist,
      runId: `gpu-${run}`,
      policy: { idleAfterMs: 600_000, hibernateAfterMs: 600_000, evictAfterMs: 600_000 },
    });
    base = stack.gateway.url;
    connection = await Connection.connect({ address: platformVar('QUIRE_TEMPORAL_ADDRESS') });
    temporal = new Client({ connection });
    producer = createProducer(
      createKafka({ brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','), clientId: `e2e-gpu-${run}` }),
    );
    await producer.connect();
    browser = await launchBrowser();
  });

  afterAll(async () => {
    if (notebook && temporal)
      await temporal.workflow
        .getHandle(kernelLifecycleWorkflowId(notebook.kernelId))
        .terminate('test done')
        .catch(() => undefined);
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await stack?.stop();
    await scheduler.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (webDist) rmSync(webDist, { recursive: true, force: true });
  });

  it('a GPU memory reading from the host shows as a gauge beside the RAM gauge', async () => {
    const signup = await api<AuthResponse>(base, 'POST', '/api/auth/signup', {
      email: `gpu-${run}@example.com`,
      name: 'Grace Hopper',
      password: 'correct horse battery',
    });
    expect(signup.status).toBe(201);
    alice = signup.body;
    const created = await api<NotebookSummary>(
      base,
      'POST',
      '/api/notebooks',
      { title: `GPU ${run}` },
      alice.token,
    );
    expect(created.status).toBe(201);
    notebook = created.body;
    context = await signedInContext(browser, base, alice);
    page = await context.newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(`/notebooks/${notebook.id}`);
    await page.locator(`${cell(1)} .cm-content`).click();
    await page.keyboard.insertText('x = 41');
    await page.keyboard.press('Shift+Enter');
    await page.locator(`${cell(1)} .prompt`, { hasText: /^\[1\]$/ }).waitFor({ timeout: 120_000 });
    await page.locator('[data-testid="kernel-status"][data-state="idle"]').waitFor({ timeout: 30_000 });
    await page.getByTestId('kernel-memory').waitFor({ timeout: 30_000 });

    const listing = (await (
      await fetch(`${stack.hostWorker.url}/internal/kernels`)
    ).json()) as ListKernelsResponse;
    const k = listing.kernels.find((x) => x.kernelId === notebook.kernelId) as HostKernelSummary;
    const hostId = `e2e-web-lc-gpu-${run}`;
    const events = new EventProducer(producer, 'host-worker', `e2e-gpu-${run}`);
    const gauge = page.getByTestId('kernel-gpu-memory');
    // The gateway's feed joins its consumer group at boot; publish until the reading shows.
    const deadline = Date.now() + 60_000;
    while (!(await gauge.isVisible())) {
      if (Date.now() > deadline) throw new Error('the GPU gauge never appeared');
      await events.publish(ResourceSample, {
        subject: hostId,
        tenant: alice.org.id,
        data: {
          hostId,
          sandboxId: k.sandboxId,
          kernelId: notebook.kernelId,
          cpuSecondsTotal: 1,
          memoryBytes: k.resources?.memoryBytes ?? 100_000_000,
          memoryLimitBytes: k.resources?.memoryLimitBytes ?? GiB,
          peakMemoryBytes: k.resources?.peakMemoryBytes ?? 100_000_000,
          gpu: { utilizationPct: 42, memoryUsedBytes: 68 * GiB, memoryTotalBytes: 80 * GiB },
        },
      });
      await page.waitForTimeout(1000);
    }
    expect(await gauge.textContent()).toContain('GPU 68 GiB / 80 GiB');
    const meter = gauge.getByRole('meter', { name: 'GPU memory' });
    expect(await meter.getAttribute('aria-valuemax')).toBe(String(80 * GiB));
    expect(await meter.getAttribute('aria-valuetext')).toBe('68 GiB of 80 GiB (85 %), GPU 42 % busy');
    expect(await gauge.getAttribute('class')).toContain('memory-warn'); // above 80 %
    // Beside the RAM gauge, both in the status bar.
    expect(await page.getByTestId('kernel-status').getByTestId('kernel-memory').isVisible()).toBe(true);
    expect(await accessibilityViolations(page)).toEqual([]);
    await screenshot(page, '43-gpu-memory-gauge');
  });

  it('Alice picks an H100 and restarts: the bar shows the queue and follows its position', async () => {
    await page
      .getByLabel('Compute')
      .locator('option', { hasText: 'H100 80GB' })
      .waitFor({ state: 'attached' });
    await page.getByLabel('Compute').selectOption('gpu:h100-80gb:full');
    await page.getByTestId('kernel-status').getByRole('button', { name: 'Restart', exact: true }).click();
    const line = page.getByTestId('gpu-wait');
    await line.getByText('Waiting for an H100 — position 2, about 4 min').waitFor({ timeout: 60_000 });
    // The restarted kernel's workflow asked for what the notebook says now.
    expect(scheduler.asked.filter((r) => r.kernelId === notebook.kernelId)[0]).toMatchObject({
      gpuType: 'h100-80gb',
      profile: 'full',
      allowCpuFallback: false,
      tenant: alice.org.id,
    });
    const snap = await temporal.workflow
      .getHandle(kernelLifecycleWorkflowId(notebook.kernelId))
      .query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);
    expect(snap.gpu).toMatchObject({ gpuType: 'h100-80gb', phase: 'queued', position: 2 });
    // No reading of a GPU this kernel does not have any more.
    expect(await page.getByTestId('kernel-gpu-memory').count()).toBe(0);
    expect(await accessibilityViolations(page)).toEqual([]);
    await screenshot(page, '44-gpu-queue');

    scheduler.set(notebook.kernelId, { phase: 'queued', position: 1, etaS: 100, reason: null });
    // The workflow re-asks within 15 s (its poll for a 4 min ETA); the gateway re-reads every 0.5 s.
    await line.getByText('Waiting for an H100 — position 1, about 2 min').waitFor({ timeout: 40_000 });

    scheduler.set(notebook.kernelId, {
      phase: 'rejected',
      position: null,
      etaS: null,
      reason: 'your organisation’s GPU quota is used up',
    });
    await line.getByText('No GPU: your organisation’s GPU quota is used up').waitFor({
      timeout: 40_000,
    });
    await page.locator('[data-testid="kernel-status"][data-state="dead"]').waitFor({ timeout: 10_000 });
  });
});
