import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureJupyterLabVenv, JUPYTERLAB_REQUIREMENTS, jupyterLabVersion } from './jupyterlab-venv';

const pins = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));

describe('the JupyterLab peer venv', () => {
  let cache: string;
  const saved = { ...process.env };
  beforeEach(() => {
    cache = mkdtempSync(join(tmpdir(), 'quire-labpeer-venv-spec-'));
    process.env.QUIRE_CACHE_DIR = cache;
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(cache, { recursive: true, force: true });
  });

  it('pins every package exactly, JupyterLab 4 among them, with the no-op cell peer’s ipykernel', () => {
    const lines = pins(JUPYTERLAB_REQUIREMENTS);
    expect(lines.length).toBeGreaterThan(50);
    for (const l of lines) expect(l).toMatch(/^[A-Za-z0-9_.-]+==[0-9][^\s]*$/);
    expect(jupyterLabVersion()).toMatch(/^4\.\d+\.\d+$/);
    const ipykernel = (f: string) => pins(f).find((l) => l.startsWith('ipykernel=='));
    expect(ipykernel(JUPYTERLAB_REQUIREMENTS)).toBe(
      ipykernel(join(__dirname, '..', 'noop-cell', 'jupyter-requirements.txt')),
    );
  });

  it('reuses a venv whose stamp matches the requirements, installing nothing', () => {
    const venv = join(cache, 'bench-jupyterlab');
    mkdirSync(join(venv, 'bin'), { recursive: true });
    writeFileSync(join(venv, 'bin', 'jupyter-lab'), '');
    const hash = createHash('sha256').update(readFileSync(JUPYTERLAB_REQUIREMENTS)).digest('hex');
    writeFileSync(join(venv, '.quire-requirements.sha256'), `${hash}\n`);
    // A python that cannot run proves no install was tried.
    process.env.QUIRE_BENCH_PYTHON = join(cache, 'no-such-python');
    const lines: string[] = [];
    expect(ensureJupyterLabVenv((l) => lines.push(l))).toBe(venv);
    expect(lines.join('\n')).toContain('cached venv');
  });

  it('names the failing piece, removes the half-built venv and leaves the rest of the cache alone', () => {
    const venv = join(cache, 'bench-jupyterlab');
    mkdirSync(join(venv, 'bin'), { recursive: true });
    writeFileSync(join(venv, '.quire-requirements.sha256'), 'an older pin set\n');
    writeFileSync(join(cache, 'other-piece'), 'kept');
    process.env.QUIRE_BENCH_PYTHON = join(cache, 'no-such-python');
    const lines: string[] = [];
    expect(() => ensureJupyterLabVenv((l) => lines.push(l))).toThrow(
      /JupyterLab peer: create the venv with .*no-such-python failed .*--peer none/s,
    );
    expect(existsSync(venv)).toBe(false);
    expect(readFileSync(join(cache, 'other-piece'), 'utf8')).toBe('kept');
    expect(lines.join('\n')).toContain('installing JupyterLab');
  });
});
