import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { buildWebEditor, startServiceProcess, stopServiceProcess } from '@quire/service-kit';

/** doc-sync and the gateway from source, each its own process, on free ports; and a fresh web build. */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

export { freePort } from '@quire/service-kit';

/** A server the benchmark started (Quire's services and the JupyterLab peer). */
export interface Proc {
  name: string;
  url: string;
  child: ChildProcess;
}

/** A Quire service, logging to `<logDir>/<name>.log`, ready when /readyz answers (up to 120 s). */
export function startProc(
  name: string,
  entry: string,
  port: number,
  env: Record<string, string>,
  logDir: string,
): Promise<Proc> {
  return startServiceProcess({
    name,
    entry,
    port,
    env: { ...env, QUIRE_LOG_LEVEL: 'warn' },
    logDir,
    readyTimeoutMs: 120_000,
    readyPollMs: 300,
    sourceMaps: false, // as in production: no source-mapped stack traces slowing the measured services
  });
}

export async function stopProc(p: Proc | undefined): Promise<void> {
  await stopServiceProcess(p, 'SIGTERM', 15_000);
}

/** The production build of the editor, as the gateway serves it. */
export const buildWeb = (): Promise<string> => buildWebEditor('bench');
