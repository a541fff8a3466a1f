import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describeRunsc, isStaticElf, selectedRunsc, staticRunscPath } from '../src/components/gvisor';
import { loadLocalConfig } from '../src/local-config';
import type { PlatformContext } from '../src/platform-context';

describe('which runsc the platform uses', () => {
  const work = mkdtempSync(join(tmpdir(), 'quire-gvisor-component-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const ctxWith = (cacheDir: string) =>
    ({ config: loadLocalConfig('/repo', { QUIRE_CACHE_DIR: cacheDir }) }) as PlatformContext;

  it('pins the static build in the cache, under its module version', () => {
    const ctx = ctxWith(join(work, 'cache-a'));
    expect(ctx.config.versions.gvisorRunsc).toBe('v0.0.0-20260905035102-160fafc42237');
    expect(staticRunscPath(ctx)).toBe(
      join(work, 'cache-a', 'gvisor', 'v0.0.0-20260905035102-160fafc42237', 'runsc'),
    );
  });

  it("falls back to Debian's runsc when the static build is absent, and says so", () => {
    const ctx = ctxWith(join(work, 'empty-cache'));
    expect(selectedRunsc(ctx, {})).toEqual({
      path: '/usr/bin/runsc',
      source: 'Debian fallback: static build not installed',
    });
    expect(describeRunsc(ctx, {})).toMatch(
      /^\/usr\/bin\/runsc \(Debian fallback: static build not installed, (0\.0~20221219\.0, ptrace\)|; does not run\))$/,
    );
  });

  it('uses the static build once it is there and answers --version, naming its version and systrap', () => {
    const ctx = ctxWith(join(work, 'cache-b'));
    const pinned = staticRunscPath(ctx);
    mkdirSync(dirname(pinned), { recursive: true });
    writeFileSync(
      pinned,
      [
        '#!/bin/sh',
        '[ "$1" = --version ] && { echo "runsc version gomod-v0.0.0-20260905035102-160fafc42237"; exit 0; }',
        '[ "$1" = flags ] && { printf -- "  -platform string\\n    \\tspecifies which platform to use: systrap (default), ptrace, kvm.\\n" >&2; exit 0; }',
        'exit 64',
      ].join('\n'),
    );
    chmodSync(pinned, 0o755);
    expect(selectedRunsc(ctx, {})).toEqual({ path: pinned, source: 'pinned static build' });
    expect(describeRunsc(ctx, {})).toBe(
      `${pinned} (pinned static build, gomod-v0.0.0-20260905035102-160fafc42237, systrap)`,
    );
    expect(describeRunsc(ctx, { QUIRE_RUNSC_PLATFORM: 'ptrace' })).toContain('ptrace (QUIRE_RUNSC_PLATFORM)');
    // QUIRE_RUNSC_PATH still overrides.
    expect(selectedRunsc(ctx, { QUIRE_RUNSC_PATH: '/opt/other/runsc' })).toEqual({
      path: '/opt/other/runsc',
      source: 'QUIRE_RUNSC_PATH',
    });
    expect(selectedRunsc(ctx, { QUIRE_RUNSC_PATH: '/usr/bin/runsc' }).source).toBe('Debian');
  });

  it('tells a static binary from a dynamically linked one (a cgo runsc dies at sandbox boot)', () => {
    // /bin/sh is dynamically linked on Debian: the negative control.
    expect(isStaticElf('/bin/sh')).toBe(false);
    const notElf = join(work, 'script');
    copyFileSync(__filename, notElf);
    expect(isStaticElf(notElf)).toBe(false);
    // The real build, when this machine has it (`npm start` builds it).
    const built = staticRunscPath(ctxWith(join(__dirname, '..', '..', '..', '.quire', 'cache')));
    if (existsSync(built)) expect(isStaticElf(built)).toBe(true);
  });
});
