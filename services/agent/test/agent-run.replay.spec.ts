import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DefaultLogger,
  makeTelemetryFilterString,
  Runtime,
  Worker,
  type ReplayResult,
} from '@temporalio/worker';

const AGENT_FIXTURES_DIR = join(__dirname, 'fixtures');

/**
 * Every recorded agent-run history (test/fixtures/*.json, recorded from real
 * runs on the real services by test/support/record-agent-run-fixtures.ts)
 * replays against today's workflow code with zero determinism errors, so a
 * change to the workflow that would break runs in flight fails CI; and the
 * same histories against a deliberately changed workflow fail, which proves
 * this test can fail. No server needed.
 */
jest.setTimeout(180_000);

function fixtures(): { workflowId: string; history: unknown }[] {
  return readdirSync(AGENT_FIXTURES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      workflowId: f.replace(/\.json$/, ''),
      history: JSON.parse(readFileSync(join(AGENT_FIXTURES_DIR, f), 'utf8')),
    }));
}

async function replayAll(workflowsPath: string): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  for await (const r of Worker.runReplayHistories(
    { workflowsPath, replayName: 'quire-agent-fixtures' },
    fixtures(),
  ))
    results.push(r);
  return results;
}

describe('replay of recorded agentRun histories', () => {
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

  it('has the recorded runs: auto, review accept/reject, dry run, stop while a cell runs, step budget', () => {
    expect(fixtures().map((f) => f.workflowId)).toEqual(
      expect.arrayContaining([
        'auto-insert-inspect-finish',
        'review-accept-reject',
        'dry-run-review-accept',
        'stopped-while-cell-runs',
        'max-steps',
      ]),
    );
  });

  it('the recorded histories are real runs: activities, signals and a completed workflow', () => {
    for (const { workflowId, history } of fixtures()) {
      const events = (history as { events: { eventType: string }[] }).events.map((e) => e.eventType);
      expect({ workflowId, first: events[0] }).toEqual({
        workflowId,
        first: 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
      });
      expect({ workflowId, last: events.at(-1) }).toEqual({
        workflowId,
        last: 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED',
      });
      expect(events.filter((e) => e === 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED').length).toBeGreaterThan(2);
    }
    const signalled = fixtures()
      .filter((f) =>
        (f.history as { events: { eventType: string }[] }).events.some(
          (e) => e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
        ),
      )
      .map((f) => f.workflowId);
    expect(signalled).toEqual(
      expect.arrayContaining(['review-accept-reject', 'dry-run-review-accept', 'stopped-while-cell-runs']),
    );
  });

  it('today’s workflow replays every recorded run with zero determinism errors', async () => {
    const results = await replayAll(require.resolve('../src/workflows'));
    expect(results.map((r) => ({ id: r.workflowId, error: r.error ? String(r.error) : null }))).toEqual(
      fixtures().map((f) => ({ id: f.workflowId, error: null })),
    );
  });

  it('negative control: a non-deterministic change makes the replay fail for every recorded run', async () => {
    const results = await replayAll(require.resolve('./support/nondeterministic-agent-run'));
    expect(results).toHaveLength(fixtures().length);
    for (const r of results) {
      expect(r.error).toBeDefined();
      expect(String(r.error)).toMatch(/[Nn]ondeterminis|DeterminismViolation/);
    }
  });
});
