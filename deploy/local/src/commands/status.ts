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
      const state = !daemon ? (ready ? green('installed') : red('missing')) : ready ? green('ready') : running ? yellow('starting') : red('stopped');
      if (!ready) allUp = false;
      const pid = daemon && running ? String(ctx.supervisor.pid(c.name)) : '';
      return [c.title, state, pid, c.endpoint(ctx)];
    }),
  );
  const widths = [28, 20, 8];
  process.stdout.write(`${bold('piece'.padEnd(widths[0]!))}${bold('state'.padEnd(widths[1]! - 9))}${bold('pid'.padEnd(widths[2]!))}${bold('where')}\n`);
  for (const [title, state, pid, where] of rows) {
    process.stdout.write(`${title!.padEnd(widths[0]!)}${state!.padEnd(widths[1]!)}${pid!.padEnd(widths[2]!)}${dim(where!)}\n`);
  }
  return allUp;
}
