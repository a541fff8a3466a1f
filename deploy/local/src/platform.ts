import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_COMPONENTS, INFRASTRUCTURE, SERVICES } from './components';
import { loadOrCreateCredentials } from './credentials';
import { loadLocalConfig } from './local-config';
import type { Component, PlatformContext } from './platform-context';
import { platformEnv } from './platform-env';
import { ProcessSupervisor } from './process-supervisor';
import { step } from './progress';

export function createContext(repoRoot: string, env: NodeJS.ProcessEnv = process.env): PlatformContext {
  const config = loadLocalConfig(repoRoot, env);
  return {
    config,
    creds: loadOrCreateCredentials(config.stateDir),
    supervisor: new ProcessSupervisor(config.stateDir),
  };
}

/** Installs every piece that is missing; pieces install in parallel (apt calls queue). */
export async function installAll(
  ctx: PlatformContext,
  components: readonly Component[] = ALL_COMPONENTS,
): Promise<void> {
  await Promise.all(components.map((c) => c.install(ctx)));
}

export async function startComponents(
  ctx: PlatformContext,
  components: readonly Component[],
): Promise<string[]> {
  const started: string[] = [];
  await Promise.all(
    components.map(async (c) => {
      const wasRunning = ctx.supervisor.isRunning(c.name);
      await step(`${c.title} ${wasRunning ? 'is running' : 'start'}`, () => c.start(ctx), {
        quietIfFast: true,
      });
      if (!wasRunning && c.ports(ctx).length > 0) started.push(c.name);
    }),
  );
  writeEnvFile(ctx);
  return started;
}

export async function startInfrastructure(ctx: PlatformContext): Promise<string[]> {
  return startComponents(ctx, INFRASTRUCTURE);
}

/** Services start one after another: later ones may depend on earlier ones. */
export async function startServices(ctx: PlatformContext): Promise<string[]> {
  const started: string[] = [];
  for (const svc of SERVICES) started.push(...(await startComponents(ctx, [svc])));
  return started;
}

export async function stopComponents(ctx: PlatformContext, names?: readonly string[]): Promise<void> {
  // Services first, then infrastructure, so nothing loses its backing store mid-write.
  const order = [...SERVICES, ...INFRASTRUCTURE].filter((c) => !names || names.includes(c.name));
  for (const c of order) {
    if (ctx.supervisor.isRunning(c.name)) await step(`stop ${c.title}`, () => c.stop(ctx));
  }
}

/** `.quire/state/platform.env`: the platform's variables, for `source` in a shell. */
function writeEnvFile(ctx: PlatformContext): void {
  const lines = Object.entries(platformEnv(ctx)).map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`);
  writeFileSync(join(ctx.config.stateDir, 'platform.env'), `${lines.join('\n')}\n`, { mode: 0o600 });
}
