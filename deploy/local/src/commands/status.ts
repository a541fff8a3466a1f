import { ALL_COMPONENTS } from '../components';
import type { PlatformContext } from '../platform-context';
import { bold, dim, green, red, yellow } from '../progress';

export async function printStatus(ctx: PlatformContext): Promise<boolean> {
  let allUp = true;
  const rows = await Promise.all(
    ALL_COMPONENTS.map(async (c) => {
      const daemon = c.ports(ctx).length > 0;
      const running = ctx.supervisor.isRunning(c.name);
      const ready = await c.ready(ctx);
      const state = !daemon
        ? ready
          ? green('installed')
          : red('missing')
        : ready
          ? green('ready')
          : running
            ? yellow('starting')
            : red('stopped');
      if (!ready) allUp = false;
      const pid = daemon && running ? String(ctx.supervisor.pid(c.name)) : '';
      return [c.title, state, pid, c.endpoint(ctx)];
    }),
  );
  const widths = [30, 12, 9];
  const pad = (s: string, w: number) => s + ' '.repeat(Math.max(1, w - visibleLength(s)));
  process.stdout.write(
    `${pad(bold('piece'), widths[0]!)}${pad(bold('state'), widths[1]!)}${pad(bold('pid'), widths[2]!)}${bold('where')}\n`,
  );
  for (const [title, state, pid, where] of rows) {
    process.stdout.write(
      `${pad(title!, widths[0]!)}${pad(state!, widths[1]!)}${pad(pid!, widths[2]!)}${dim(where!)}\n`,
    );
  }
  return allUp;
}

function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}
