import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  chooseRunscPlatform,
  defaultRunscPath,
  mountsUnder,
  probeRunsc,
  runscBuildDate,
  RunscError,
} from '../src';

/** A stand-in runsc that answers `--version` and `flags` as the real builds do. */
function fakeRunsc(dir: string, version: string, platformLine: string, extraFlags = ''): string {
  const path = join(dir, `runsc-${version.replace(/[^a-z0-9]/gi, '')}`);
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      'if [ "$1" = --version ]; then echo "runsc version ' + version + '"; echo "spec: 1.2.1"; exit 0; fi',
      'if [ "$1" = flags ]; then cat >&2 <<"X"',
      '  -oci-seccomp',
      '    \tEnables loading OCI seccomp filters inside the sandbox.',
      '  -platform string',
      `    \t${platformLine}`,
      extraFlags,
      'X',
      'exit 0; fi',
      'exit 64',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return path;
}

describe('which runsc, on which platform', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quire-runsc-probe-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a current build on systrap, and says it has --shared-root', () => {
    const path = fakeRunsc(
      dir,
      'gomod-v0.0.0-20260905035102-160fafc42237',
      'specifies which platform to use: systrap (default), ptrace, kvm. (default "systrap")',
      '  -shared-root string\n    \tdirectory for storage of state shared across sandboxes on the system.',
    );
    const info = probeRunsc(path);
    expect(info).toEqual({
      path,
      version: 'gomod-v0.0.0-20260905035102-160fafc42237',
      platforms: ['systrap', 'ptrace', 'kvm'],
      defaultPlatform: 'systrap',
      sharedRoot: true,
      buildDate: 20260905,
      checkpointResumesInPlace: true,
    });
    expect(chooseRunscPlatform(info)).toBe('systrap');
    expect(chooseRunscPlatform(info, 'ptrace')).toBe('ptrace');
  });

  it("keeps ptrace for Debian's 2022 build, which has no systrap, and refuses systrap there by name", () => {
    const path = fakeRunsc(
      dir,
      '0.0~20221219.0',
      'specifies which platform to use: ptrace (default), kvm. (default "ptrace")',
    );
    const info = probeRunsc(path);
    expect(info.platforms).toEqual(['ptrace', 'kvm']);
    expect(info.sharedRoot).toBe(false);
    expect(info.buildDate).toBe(20221219);
    expect(info.checkpointResumesInPlace).toBe(false);
    expect(chooseRunscPlatform(info)).toBe('ptrace');
    expect(() => chooseRunscPlatform(info, 'systrap')).toThrow(
      /QUIRE_RUNSC_PLATFORM=systrap: .*runsc 0\.0~20221219\.0\) has only ptrace, kvm/,
    );
  });

  it('names the binary when it is missing or does not run', () => {
    expect(() => probeRunsc(join(dir, 'nope'))).toThrow(RunscError);
    expect(() => probeRunsc(join(dir, 'nope'))).toThrow(/runsc not found at .*nope: .*QUIRE_RUNSC_PATH/);
    const broken = join(dir, 'broken');
    writeFileSync(broken, '#!/bin/sh\necho "cannot start" >&2\nexit 3\n');
    chmodSync(broken, 0o755);
    expect(() => probeRunsc(broken)).toThrow(/broken --version failed \(exit 3\): cannot start/);
  });

  it('reads the build date from every version format we meet', () => {
    expect(runscBuildDate('0.0~20221219.0')).toBe(20221219);
    expect(runscBuildDate('release-20240101.0')).toBe(20240101);
    expect(runscBuildDate('gomod-v0.0.0-20260905035102-160fafc42237')).toBe(20260905);
    expect(runscBuildDate('VERSION_MISSING')).toBeUndefined();
  });

  it('uses QUIRE_RUNSC_PATH when set, else Debian’s runsc', () => {
    expect(defaultRunscPath({ QUIRE_RUNSC_PATH: '/opt/runsc' })).toBe('/opt/runsc');
    expect(defaultRunscPath({})).toBe('/usr/bin/runsc');
  });

  it('finds no mounts under a plain folder (what removeRunscRoot unmounts first)', () => {
    mkdirSync(join(dir, 'root'), { recursive: true });
    expect(mountsUnder(join(dir, 'root'))).toEqual([]);
    // The negative control: / itself is a mount point.
    expect(mountsUnder('/')).toContain('/');
  });
});
