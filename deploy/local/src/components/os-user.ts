import { readFileSync } from 'node:fs';
import { PlatformError } from '../progress';

/** uid/gid of a local account, from /etc/passwd. */
export function osUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line)
    throw new PlatformError(
      name,
      `system user ${name} does not exist`,
      `create it (useradd --system ${name}) or reinstall its package`,
    );
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
