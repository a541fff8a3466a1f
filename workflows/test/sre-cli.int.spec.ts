import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ExecuteCompleted, KERNEL_LIFECYCLE, kernelLifecycleWorkflowId, uuidv7 } from '@quire/contracts';
import { createKafka, createProducer, EventProducer } from '@quire/contracts/kafka';
import { platformVar } from '@quire/service-kit';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { ensureKernelRunning } from '../src/client/lifecycle-client';
import { FakeHostFleet } from '../src/testing/fake-host-fleet';
import { FIXTURES_DIR, lifecycleInput } from './lifecycle-harness';

/**
 * The SRE commands of the `quire` CLI, run as an SRE runs them (the real
 * launcher script), against the platform's Temporal and Kafka.
 */
jest.setTimeout(240_000);

const REPO = resolve(__dirname, '..', '..');
const run = uuidv7().slice(-8);
const taskQueue = `lifecycle-cli-${run}`;

/** Async: the lifecycle worker of this test runs in this process and must keep answering queries. */
function quire(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolveRun) => {
    const p = spawn('bash', [join(REPO, 'deploy/local/bin/quire'), ...args], { cwd: REPO, env: process.env });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 180_000);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? -1, out });
    });
  });
}

describe('quire kernels / replay / timeline', () => {
  let workerConnection: NativeConnection;
  let worker: Worker;
  let workerRun: Promise<void>;
  let connection: Connection;
  let client: Client;
  const kernelId = `k-cli-${run}`;

  beforeAll(async () => {
    const address = platformVar('QUIRE_TEMPORAL_ADDRESS');
    Runtime.install({ logger: new DefaultLogger('WARN') });
    workerConnection = await NativeConnection.connect({ address });
    worker = await Worker.create({
      connection: workerConnection,
      taskQueue,
      workflowsPath: require.resolve('../src/workflows'),
      activities: new FakeHostFleet(['host-cli']).activities(),
    });
    workerRun = worker.run();
    connection = await Connection.connect({ address });
    client = new Client({ connection });
    await ensureKernelRunning(
      client,
      lifecycleInput(kernelId, { policy: { idleAfterMs: 600_000 } }),
      { userId: 'u-ada', reason: 'open' },
      taskQueue,
    );
    // What the gateway publishes when a cell ran: it belongs in the timeline.
    const kafka = createKafka({
      brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','),
      clientId: `cli-it-${run}`,
    });
    const producer = createProducer(kafka);
    await producer.connect();
    await new EventProducer(producer, 'gateway', 'cli-it').publish(ExecuteCompleted, {
      subject: kernelId,
      tenant: 'org-lifecycle-it',
      data: { executionId: `x-${run}`, kernelId, userId: 'u-ada', status: 'ok', ms: 3, executionCount: 1 },
    });
    await producer.disconnect();
  });

  afterAll(async () => {
    await client?.workflow
      .getHandle(kernelLifecycleWorkflowId(kernelId))
      .signal(KERNEL_LIFECYCLE.terminateSignal, { reason: 'test done' })
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1000));
    worker?.shutdown();
    await workerRun?.catch(() => undefined);
    await workerConnection?.close();
    await connection?.close();
  });

  it('kernels ls and show: state, host, timers of a live lifecycle', async () => {
    const ls = await quire('kernels', 'ls', '--json');
    expect(ls.code).toBe(0);
    const rows = JSON.parse(ls.out.slice(ls.out.indexOf('['))) as {
      kernelId: string;
      state: string;
      host: string;
    }[];
    expect(rows).toEqual(
      expect.arrayContaining([expect.objectContaining({ kernelId, state: 'RUNNING', host: 'host-cli' })]),
    );
    const show = await quire('kernels', 'show', kernelId);
    expect(show.code).toBe(0);
    expect(show.out).toMatch(new RegExp(`${kernelId}\\s+RUNNING\\s+tier team`));
    expect(show.out).toMatch(/timers\s+idle in \d+s/);
    const missing = await quire('kernels', 'show', `k-nobody-${run}`);
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/no lifecycle workflow answers for kernel k-nobody/);
  });

  it('timeline merges the Temporal history with the kernel’s Kafka events, in time order', async () => {
    const t = await quire('timeline', kernelId, '--json');
    expect(t.code).toBe(0);
    const entries = JSON.parse(t.out.slice(t.out.indexOf('['))) as {
      at: string;
      source: string;
      what: string;
    }[];
    expect(entries.some((e) => e.source === 'temporal' && e.what === 'update ensureRunning accepted')).toBe(
      true,
    );
    expect(entries.some((e) => e.source === 'kafka' && e.what === 'exec.ExecuteCompleted')).toBe(true);
    expect(entries.map((e) => e.at)).toEqual([...entries.map((e) => e.at)].sort());
    const text = await quire('timeline', kernelId);
    expect(text.out).toMatch(/temporal\s+workflow execution started/);
  });

  it('replay: every committed fixture passes; a tampered history is reported as a determinism break (exit 5)', async () => {
    const files = readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.json'));
    const ok = await quire('replay', ...files.flatMap((f) => ['--file', join(FIXTURES_DIR, f)]));
    expect(ok.code).toBe(0);
    expect(ok.out.match(/✓/g)).toHaveLength(files.length);

    // The history says the workflow scheduled an activity today's code never schedules first.
    const history = JSON.parse(readFileSync(join(FIXTURES_DIR, 'full-lifecycle.json'), 'utf8')) as {
      events: { activityTaskScheduledEventAttributes?: { activityType: { name: string } } }[];
    };
    history.events.find(
      (e) => e.activityTaskScheduledEventAttributes,
    )!.activityTaskScheduledEventAttributes!.activityType.name = 'somethingElse';
    const tampered = join(mkdtempSync(join(tmpdir(), 'quire-replay-')), 'tampered.json');
    writeFileSync(tampered, JSON.stringify(history));
    const bad = await quire('replay', '--file', tampered);
    expect(bad.code).toBe(5);
    expect(bad.out).toMatch(/determinism break/);

    const live = await quire('replay', kernelId);
    expect(live.code).toBe(0);
    expect(live.out).toMatch(new RegExp(`✓ kernel-lifecycle:${kernelId}: \\d+ events`));

    const notJson = await quire('replay', '--file', join(REPO, 'README.md'));
    expect(notJson.code).toBe(1);
    expect(notJson.out).toMatch(/cannot read .*README\.md/);
  });
});
