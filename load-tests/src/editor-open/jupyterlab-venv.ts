import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './services';

/**
 * The JupyterLab peer's Python environment: a venv under $QUIRE_CACHE_DIR
 * built from the pinned jupyterlab-requirements.txt, the same way the platform
 * builds its kernel environment (Debian's python3 -m venv, then pip -r). Built
 * only when the benchmark runs, never by `npm test`. Idempotent: a stamp holds
 * the requirements' hash, so a second run reuses it and a changed pin rebuilds it.
 */
export const JUPYTERLAB_REQUIREMENTS = join(__dirname, 'jupyterlab-requirements.txt');

const STAMP = '.quire-requirements.sha256';

export function jupyterLabVersion(): string {
  const m = /^jupyterlab==(\S+)$/m.exec(readFileSync(JUPYTERLAB_REQUIREMENTS, 'utf8'));
  if (!m) throw new Error(`${JUPYTERLAB_REQUIREMENTS} does not pin jupyterlab`);
  return m[1]!;
}

export function ensureJupyterLabVenv(log: (line: string) => void): string {
  const cache = process.env.QUIRE_CACHE_DIR ?? join(REPO_ROOT, '.quire', 'cache');
  const venv = join(cache, 'bench-jupyterlab');
  const stamp = join(venv, STAMP);
  const want = createHash('sha256').update(readFileSync(JUPYTERLAB_REQUIREMENTS)).digest('hex');
  if (
    existsSync(stamp) &&
    readFileSync(stamp, 'utf8').trim() === want &&
    existsSync(join(venv, 'bin', 'jupyter-lab'))
  ) {
    log(`JupyterLab peer: cached venv ${venv} (JupyterLab ${jupyterLabVersion()})`);
    return venv;
  }
  const python = process.env.QUIRE_BENCH_PYTHON ?? '/usr/bin/python3';
  mkdirSync(cache, { recursive: true });
  const pipLog = join(cache, 'bench-jupyterlab-install.log');
  log(
    `JupyterLab peer: installing JupyterLab ${jupyterLabVersion()} into ${venv} ` +
      `(pinned: ${JUPYTERLAB_REQUIREMENTS}; first time ≈ 1 min; pip log: ${pipLog})`,
  );
  rmSync(venv, { recursive: true, force: true });
  writeFileSync(pipLog, '');
  const step = (what: string, cmd: string, args: string[]) => {
    log(`JupyterLab peer: ${what}…`);
    const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    writeFileSync(pipLog, `$ ${cmd} ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}\n`, { flag: 'a' });
    if (r.status !== 0) {
      rmSync(venv, { recursive: true, force: true });
      const tail = `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim().split('\n').slice(-15).join('\n');
      throw new Error(
        `JupyterLab peer: ${what} failed (${r.status ?? r.signal ?? r.error?.message}); ` +
          `the venv was removed, nothing else changed. Last lines (full log ${pipLog}):\n${tail}\n` +
          `Check the network to PyPI, or skip the peer with --peer none.`,
      );
    }
  };
  step(`create the venv with ${python}`, python, ['-m', 'venv', venv]);
  step('pip install the pinned JupyterLab packages from PyPI', join(venv, 'bin', 'pip'), [
    'install',
    '--disable-pip-version-check',
    '--no-input',
    '-r',
    JUPYTERLAB_REQUIREMENTS,
  ]);
  step('check that JupyterLab starts', join(venv, 'bin', 'jupyter-lab'), ['--version']);
  writeFileSync(stamp, `${want}\n`);
  log(`JupyterLab peer: installed`);
  return venv;
}
