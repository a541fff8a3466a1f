import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DefaultLogger,
  makeTelemetryFilterString,
  Runtime,
  Worker,
  type ReplayResult,
} from '@temporalio/worker';
import { FIXTURES_DIR } from './lifecycle-harness';

/**
 * Every committed workflow history (test/fixtures/*.json, recorded from real
 * runs with QUIRE_RECORD_FIXTURES=1) replays against today's workflow code
 * with zero determinism errors; and the same histories against a deliberately
 * changed workflow fail, which proves this test can fail. No server needed.
 */
jest.setTimeout(180_000);

function fixtures(): { workflowId: string; history: unknown }[] {
  return readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      workflowId: f.replace(/\.json$/, ''),
      history: JSON.parse(readFileSync(join(FIXTURES_DIR, f), 'utf8')),
    }));
}

async function replayAll(workflowsPath: string): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  for await (const r of Worker.runReplayHistories(
    { workflowsPath, replayName: 'quire-fixtures' },
    fixtures(),
  ))
    results.push(r);
  return results;
}

describe('replay of recorded kernelLifecycle histories', () => {
  beforeAll(() => {
    try {
      Runtime.install({
        logger: new DefaultLogger('ERROR'),
        // The negative control's determinism failures are expected: keep Core quiet about them.
        telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
      });
    } catch {
      // already installed in this process
    }
  });

  it('has fixtures to replay (full lifecycle, GPU tier, OOM, host lost, worker kills…)', () => {
    const names = fixtures().map((f) => f.workflowId);
    expect(names.length).toBeGreaterThanOrEqual(5);
    expect(names).toEqual(
      expect.arrayContaining(['full-lifecycle', 'gpu-tier', 'gpu-scheduler-lifecycle', 'oom-then-fresh']),
    );
  });

  it('today’s workflow replays every fixture with zero determinism errors', async () => {
    const results = await replayAll(require.resolve('../src/workflows'));
    expect(results.map((r) => ({ id: r.workflowId, error: r.error ? String(r.error) : null }))).toEqual(
      fixtures().map((f) => ({ id: f.workflowId, error: null })),
    );
  });

  it('negative control: a non-deterministic change makes the replay fail for every fixture', async () => {
    const results = await replayAll(require.resolve('./nondeterministic'));
    expect(results.length).toBeGreaterThanOrEqual(5);
    expect(results).toHaveLength(fixtures().length);
    for (const r of results) {
      expect(r.error).toBeDefined();
      expect(String(r.error)).toMatch(/[Nn]ondeterminis|DeterminismViolation/);
    }
  });
});
