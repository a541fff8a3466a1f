import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * load-tests/gpu/device-check.sh on a machine without an NVIDIA GPU: one
 * clear "skipped" line and exit 0, touching nothing. (On a GPU machine it is
 * run by hand or by the device runner; see the host-worker README.)
 */
const SCRIPT = resolve(__dirname, '..', '..', '..', 'load-tests', 'gpu', 'device-check.sh');

describe('GPU device check script', () => {
  it('skips with a clear line and exit 0 where there is no nvidia-smi', () => {
    const r = spawnSync('/bin/bash', [SCRIPT], {
      env: { PATH: mkdtempSync(join(tmpdir(), 'no-gpu-')) },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('skipped: no NVIDIA GPU (nvidia-smi not found)');
  });

  it('does not skip when nvidia-smi is there (negative control: a fake one that fails loudly)', () => {
    const bin = mkdtempSync(join(tmpdir(), 'fake-gpu-'));
    writeFileSync(join(bin, 'nvidia-smi'), '#!/bin/sh\necho "fake nvidia-smi called" >&2\nexit 9\n');
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    const r = spawnSync('/bin/bash', [SCRIPT], {
      env: { PATH: bin, QUIRE_RUNSC_PATH: join(bin, 'no-runsc-here') },
      encoding: 'utf8',
    });
    expect(r.stdout).not.toContain('skipped');
    expect(r.status).not.toBe(0);
  });
});
