import { chownSync, lstatSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOciSpec, SANDBOX_GID, SANDBOX_UID, type SandboxSpecOptions } from './oci-spec';

/**
 * An OCI bundle on the host: `config.json` plus a skeleton root filesystem
 * (mount points, merged-/usr symlinks and a minimal /etc). The skeleton holds
 * no host data; everything real comes in through read-only mounts.
 */
export function createBundle(dir: string, opts: SandboxSpecOptions): string {
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  for (const d of [
    'usr',
    'etc',
    'tmp',
    'proc',
    'dev',
    'sys',
    'home/jovyan',
    'opt/quire/kernel-env',
    'var/tmp',
    'run',
  ]) {
    mkdirSync(join(rootfs, d), { recursive: true });
  }
  for (const [link, target] of [
    ['bin', 'usr/bin'],
    ['lib', 'usr/lib'],
    ['lib64', 'usr/lib64'],
    ['sbin', 'usr/sbin'],
  ] as const) {
    if (!pathExists(join(rootfs, link))) symlinkSync(target, join(rootfs, link));
  }
  // /etc/passwd and the home volume belong to the kernel user, whatever uid the first process has.
  const uid = SANDBOX_UID;
  const gid = SANDBOX_GID;
  writeFileSync(
    join(rootfs, 'etc', 'passwd'),
    `root:x:0:0:root:/root:/usr/sbin/nologin\njovyan:x:${uid}:${gid}:Quire user:/home/jovyan:/bin/bash\n`,
  );
  writeFileSync(join(rootfs, 'etc', 'group'), `root:x:0:\njovyan:x:${gid}:\n`);
  writeFileSync(join(rootfs, 'etc', 'hosts'), '127.0.0.1 localhost quire-kernel\n::1 localhost\n');
  writeFileSync(join(rootfs, 'etc', 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files\n');
  // fontconfig (matplotlib's font search, Pillow) reads /etc/fonts/fonts.conf; without one it
  // prints "Fontconfig error: Cannot load default config file" into the user's first plot.
  // The fonts are the image's (/usr/share/fonts); the cache goes to the scratch /tmp.
  mkdirSync(join(rootfs, 'etc', 'fonts'), { recursive: true });
  writeFileSync(join(rootfs, 'etc', 'fonts', 'fonts.conf'), FONTS_CONF);
  if (opts.homeVolumeDir) {
    mkdirSync(opts.homeVolumeDir, { recursive: true });
    if (process.getuid?.() === 0) chownSync(opts.homeVolumeDir, uid, gid);
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(buildOciSpec(opts), null, 2));
  return dir;
}

const FONTS_CONF = `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <dir>/usr/share/fonts</dir>
  <dir>/usr/local/share/fonts</dir>
  <cachedir>/tmp/.cache/fontconfig</cachedir>
</fontconfig>
`;

export function removeBundle(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Like existsSync, but true for a symlink whatever it points to. */
function pathExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
