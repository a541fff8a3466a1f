import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DefaultLogger, makeTelemetryFilterString, Runtime, Worker } from '@temporalio/worker';
import { green, info, red } from '../progress';
import { SreCommandError, temporalClient, type SreEnv } from './kernels';

/**
 * `quire replay <workflowId>` / `quire replay --file history.json`: runs a
 * recorded workflow history against today's workflow code (workflows/src/
 * workflows in this checkout, bundled as the worker bundles it) and reports
 * any determinism break. Exit 5 when the replay fails. The history JSON is
 * what `temporal workflow show -o json` writes (and the committed fixtures in
 * workflows/test/fixtures/ are).
 */
export const REPLAY_USAGE = `quire replay <workflowId | kernelId> [--run RUN_ID]
quire replay --file history.json [--file another.json …]

Replays the history against today's workflow code; exit 5 on a determinism break.`;

export async function runReplayCommand(args: string[], env: SreEnv, repoRoot: string): Promise<number> {
  if (args.length === 0 || args[0] === 'help' || args[0] === '--help') {
    info(REPLAY_USAGE);
    return 0;
  }
  const histories: { workflowId: string; history: unknown }[] = [];
  const files: string[] = [];
  let runId: string | undefined;
  const ids: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--file') files.push(args[++i] ?? '');
    else if (args[i] === '--run') runId = args[++i];
    else ids.push(args[i]!);
  }
  for (const f of files) {
    if (!f)
      throw new SreCommandError('replay', '--file needs a path', 'e.g. quire replay --file history.json');
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(resolve(f), 'utf8'));
    } catch (err) {
      throw new SreCommandError(
        'replay',
        `cannot read ${f}: ${(err as Error).message}`,
        'give the JSON written by `temporal workflow show -o json`',
      );
    }
    if (!parsed || typeof parsed !== 'object' || !Array.isArray((parsed as { events?: unknown }).events))
      throw new SreCommandError(
        'replay',
        `${f} is not a workflow history (no "events" array)`,
        'give the JSON written by `temporal workflow show -o json`',
      );
    histories.push({ workflowId: f, history: parsed });
  }
  if (ids.length > 0) {
    const { client, close } = await temporalClient(env);
    try {
      for (const id of ids) {
        const workflowId =
          id.startsWith('kernel-lifecycle:') || id.includes(':') ? id : `kernel-lifecycle:${id}`;
        try {
          histories.push({
            workflowId,
            history: await client.workflow.getHandle(workflowId, runId).fetchHistory(),
          });
        } catch (err) {
          throw new SreCommandError(
            'replay',
            `no history for ${workflowId}: ${(err as Error).message}`,
            'check the id with `quire kernels ls --all`',
          );
        }
      }
    } finally {
      await close();
    }
  }
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
    });
  } catch {
    // installed already
  }
  let failed = 0;
  const workflowsPath = join(repoRoot, 'workflows', 'src', 'workflows');
  for await (const r of Worker.runReplayHistories({ workflowsPath, replayName: 'quire-replay' }, histories)) {
    const events = countEvents(histories.find((h) => h.workflowId === r.workflowId)?.history);
    if (r.error) {
      failed++;
      info(`${red('✗')} ${r.workflowId}: determinism break after replaying ${events} events`);
      info(`  ${String((r.error as Error).message ?? r.error)}`);
    } else info(`${green('✓')} ${r.workflowId}: ${events} events replay against today's code`);
  }
  return failed > 0 ? 5 : 0;
}

function countEvents(history: unknown): number {
  return ((history as { events?: unknown[] } | undefined)?.events ?? []).length;
}
