import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const WEB = resolve(__dirname, '..', '..', '..', 'web');

/**
 * A production build of the web editor from the current sources into a fresh
 * temporary folder (what the gateway serves with QUIRE_WEB_DIST), for the
 * browser tests and the editor-open benchmark. The caller removes the folder.
 */
export async function buildWebEditor(tag: string): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), `quire-web-${tag}-`));
  const vite = join(dirname(require.resolve('vite/package.json', { paths: [WEB] })), 'bin', 'vite.js');
  await promisify(execFile)(
    process.execPath,
    [
      vite,
      'build',
      '--config',
      join(WEB, 'vite.config.mts'),
      '--outDir',
      outDir,
      '--emptyOutDir',
      '--logLevel',
      'error',
    ],
    {
      cwd: WEB,
      env: { ...process.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true' },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return outDir;
}
