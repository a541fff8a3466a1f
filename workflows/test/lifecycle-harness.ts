import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  type KernelLifecycleInput,
  type KernelState,
  type LifecyclePolicy,
  type LifecycleSnapshot,
} from '@quire/contracts';
import type { Client } from '@temporalio/client';
import { platformVar } from '@quire/service-kit';

export const FIXTURES_DIR = join(__dirname, 'fixtures');

/** Timers shortened by ~200 000× (5 min → 1.5 s) so the whole life runs in seconds on a real server. */
export const SHORT: Partial<LifecyclePolicy> = {
  idleAfterMs: 1500,
  hibernateAfterMs: 1500,
  evictAfterMs: 3000,
  backgroundSnapshotEveryMs: null,
};

export function lifecycleInput(
  kernelId: string,
  over: Partial<KernelLifecycleInput> = {},
): KernelLifecycleInput {
  return {
    kernelId,
    notebookId: `nb-${kernelId}`,
    tenant: 'org-lifecycle-it',
    userId: 'u-ada',
    tier: 'team',
    policy: SHORT,
    limits: { memoryBytes: 256 * 1024 * 1024 },
    ...over,
  };
}

export async function stateOf(client: Client, kernelId: string): Promise<LifecycleSnapshot> {
  return client.workflow
    .getHandle(kernelLifecycleWorkflowId(kernelId))
    .query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery);
}

export async function waitForState(
  client: Client,
  kernelId: string,
  state: KernelState,
  ms = 30_000,
): Promise<LifecycleSnapshot> {
  const end = Date.now() + ms;
  let last: LifecycleSnapshot | undefined;
  while (Date.now() < end) {
    last = await stateOf(client, kernelId).catch(() => undefined);
    if (last?.state === state) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`kernel ${kernelId} never reached ${state}; last: ${JSON.stringify(last)}`);
}

export async function until(
  pred: () => boolean | Promise<boolean>,
  what: string,
  ms = 30_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * With QUIRE_RECORD_FIXTURES=1 a test writes the history of the run it just
 * made to test/fixtures/<name>.json, for the replay test that CI runs.
 */
export async function recordFixture(client: Client, workflowId: string, name: string): Promise<void> {
  if (process.env.QUIRE_RECORD_FIXTURES !== '1') return;
  // The Temporal CLI's JSON is what `quire replay --file` reads too (historyToJSON trips over
  // jest's separate Uint8Array realm).
  const runId = (await client.workflow.getHandle(workflowId).describe()).runId;
  const r = spawnSync(
    platformVar('QUIRE_TEMPORAL_CLI'),
    [
      'workflow',
      'show',
      '--address',
      platformVar('QUIRE_TEMPORAL_ADDRESS'),
      '-w',
      workflowId,
      '-r',
      runId,
      '-o',
      'json',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`temporal workflow show failed: ${r.stderr}`);
  mkdirSync(FIXTURES_DIR, { recursive: true });
  const file = join(FIXTURES_DIR, `${name}.json`);
  writeFileSync(file, r.stdout);
  // Committed files follow the repo's formatting (prettier --check runs over them).
  spawnSync(join(__dirname, '..', '..', 'node_modules', '.bin', 'prettier'), ['--write', file], {
    stdio: 'ignore',
  });
}

/** Runs a cell on a host worker's internal API; returns the text/plain result or the error. */
export async function runCell(
  apiUrl: string,
  kernelId: string,
  code: string,
): Promise<{ result?: string; ename?: string; error?: string; stdout: string }> {
  const res = await fetch(`${apiUrl}/internal/kernels/${kernelId}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  const lines = (await res.text())
    .trim()
    .split('\n')
    .filter(Boolean)
    .map(
      (l) =>
        JSON.parse(l) as {
          type: string;
          msgType?: string;
          content?: Record<string, unknown>;
          message?: string;
        },
    );
  if (!res.ok)
    return { error: `${res.status}: ${lines.map((l) => JSON.stringify(l)).join(' ')}`, stdout: '' };
  const data = lines.find((l) => l.msgType === 'execute_result')?.content?.data as
    Record<string, string> | undefined;
  const reply = lines.find((l) => l.type === 'reply');
  return {
    ...(data?.['text/plain'] !== undefined ? { result: data['text/plain'] } : {}),
    ...(reply?.content?.ename ? { ename: String(reply.content.ename) } : {}),
    ...(lines.find((l) => l.type === 'error')
      ? { error: lines.find((l) => l.type === 'error')!.message }
      : {}),
    stdout: lines
      .filter((l) => l.msgType === 'stream')
      .map((l) => String(l.content?.text))
      .join(''),
  };
}
