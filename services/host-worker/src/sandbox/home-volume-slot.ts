import { execFile } from 'node:child_process';
import { SANDBOX_GID, SANDBOX_UID } from '@quire/sandbox-gvisor';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Home-volume slots: how a warm-pool sandbox, booted before anyone asked for
 * it, gets its user's persistent volume at /home/jovyan.
 *
 * The sandbox mounts a per-sandbox slot folder at /home. The slot is made a
 * shared mount on the host before the sandbox starts, so a bind mount added
 * under it later (the user's volume at `<slot>/jovyan`) propagates into
 * gVisor's gofer and appears inside the sandbox on its next lookup. Pool
 * kernels never touch /home/jovyan before that (HOME-relative folders point at
 * /tmp, user site-packages are off), so there is no stale lookup to hide it.
 * Measured on this machine's runsc: the volume is visible at once.
 *
 * Needs mount privileges (root or CAP_SYS_ADMIN), as runsc itself does.
 */
export const SLOT_HOME_NAME = 'jovyan';

function isMountPoint(dir: string): boolean {
  const target = resolve(dir);
  // /proc/self/mountinfo: field 5 is the mount point (octal-escaped spaces).
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4]?.replace(/\\040/g, ' ') === target);
}

async function mount(args: string[]): Promise<void> {
  try {
    await execFileAsync('mount', args, { timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(
      `mount ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()} — home-volume slots need mount privileges (run the host worker as root, as runsc needs)`,
    );
  }
}

async function umount(dir: string): Promise<void> {
  if (!isMountPoint(dir)) return;
  await execFileAsync('umount', ['-l', dir], { timeout: 10_000 }).catch(() => undefined);
}

/** Creates the slot and makes it a shared mount (idempotent). Call before the sandbox starts. */
export async function prepareHomeSlot(slotDir: string): Promise<void> {
  mkdirSync(slotDir, { recursive: true });
  chmodSync(slotDir, 0o755);
  if (!isMountPoint(slotDir)) await mount(['--bind', slotDir, slotDir]);
  await mount(['--make-shared', slotDir]);
}

/** Puts the user's volume at `<slot>/jovyan` (idempotent), owned by the kernel user. */
export async function attachHomeVolume(slotDir: string, volumeDir: string): Promise<void> {
  mkdirSync(volumeDir, { recursive: true });
  if (process.getuid?.() === 0) chownSync(volumeDir, SANDBOX_UID, SANDBOX_GID);
  const home = join(slotDir, SLOT_HOME_NAME);
  mkdirSync(home, { recursive: true });
  if (isMountPoint(home)) return;
  await mount(['--bind', volumeDir, home]);
}

/**
 * Undoes both mounts and removes the (then empty) folders. Never deletes
 * files: the user's data lives in the volume, which is only unmounted here.
 */
export async function releaseHomeSlot(slotDir: string): Promise<void> {
  if (!existsSync(slotDir)) return;
  const home = join(slotDir, SLOT_HOME_NAME);
  await umount(home);
  await umount(slotDir);
  for (const dir of [home, slotDir]) {
    try {
      rmdirSync(dir);
    } catch {
      // not empty or already gone: leave it, never recurse into a user's files
    }
  }
}
