import type { Component, PlatformContext } from './platform-context';
import { isPortOpen, waitUntil } from './process-supervisor';
import { PlatformError } from './progress';

/**
 * The common start protocol: already up → nothing to do; our process alive but
 * not ready yet → wait; a port held by someone else → a clear error naming the
 * port and its setting; otherwise spawn and wait for readiness.
 */
export async function startSupervised(
  ctx: PlatformContext,
  component: Component,
  spawnIt: () => void,
  opts: { readyTimeoutMs: number; portEnv: Record<number, string> },
): Promise<'already-running' | 'started'> {
  const { supervisor } = ctx;
  const logFile = supervisor.logFile(component.name);
  if (supervisor.isRunning(component.name)) {
    await waitUntil(component.title, () => component.ready(ctx), {
      timeoutMs: opts.readyTimeoutMs,
      logFile,
      isAlive: () => supervisor.isRunning(component.name),
    });
    return 'already-running';
  }
  for (const port of component.ports(ctx)) {
    if (await isPortOpen(ctx.config.bindHost, port)) {
      const setting = opts.portEnv[port];
      throw new PlatformError(
        component.title,
        `port ${port} is already in use by another program (not a Quire process this state folder knows)`,
        `stop that program, or choose another port${setting ? ` with ${setting}=<port>` : ''}`,
      );
    }
  }
  spawnIt();
  await waitUntil(component.title, () => component.ready(ctx), {
    timeoutMs: opts.readyTimeoutMs,
    logFile,
    isAlive: () => supervisor.isRunning(component.name),
  });
  return 'started';
}
