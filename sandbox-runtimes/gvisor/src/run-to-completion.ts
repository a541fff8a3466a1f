import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle, removeBundle } from './bundle';
import type { SandboxSpecOptions } from './oci-spec';
import { Runsc } from './runsc';

export interface CompletedRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs one command in a fresh gVisor sandbox and collects its output; the
 * bundle and the sandbox are removed afterwards whatever happens.
 */
export async function runInSandbox(
  runsc: Runsc,
  spec: SandboxSpecOptions,
  opts: { id?: string; timeoutMs?: number; stdin?: string; workDir?: string } = {},
): Promise<CompletedRun> {
  const id = opts.id ?? `oneshot-${process.pid}-${Date.now().toString(36)}`;
  const bundleDir = createBundle(mkdtempSync(join(opts.workDir ?? tmpdir(), 'quire-bundle-')), spec);
  const started = Date.now();
  try {
    const child = runsc.run(id, bundleDir);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
    else child.stdin.end();
    const timer = setTimeout(() => {
      void runsc.kill(id, 'KILL', true).catch(() => child.kill('SIGKILL'));
    }, opts.timeoutMs ?? 60_000);
    const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
      (resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code, sig) => resolve([code, sig]));
      },
    ).finally(() => clearTimeout(timer));
    return { exitCode, signal, stdout, stderr, ms: Date.now() - started };
  } finally {
    await runsc.delete(id).catch(() => undefined);
    removeBundle(bundleDir);
  }
}
