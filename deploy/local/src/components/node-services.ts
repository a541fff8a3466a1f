import { join } from 'node:path';
import { startSupervised } from '../component-runner';
import type { Component, PlatformContext } from '../platform-context';
import { platformEnv } from '../platform-env';

/**
 * Quire's own services, run from TypeScript source through @swc-node/register
 * (decorator metadata included, which NestJS needs). Each gets the platform
 * environment and answers /readyz on its HTTP port.
 */
interface NodeServiceSpec {
  name: string;
  title: string;
  entry: string;
  port: (ctx: PlatformContext) => number;
  portEnv: string;
  extraEnv?: (ctx: PlatformContext) => Record<string, string>;
}

function nodeService(spec: NodeServiceSpec): Component {
  const url = (ctx: PlatformContext) => `http://${ctx.config.bindHost}:${spec.port(ctx)}`;
  return {
    name: spec.name,
    title: spec.title,
    ports: (ctx) => [spec.port(ctx)],
    endpoint: url,
    async install() {},
    async start(ctx) {
      await startSupervised(
        ctx,
        this,
        () =>
          ctx.supervisor.start(
            spec.name,
            process.execPath,
            ['--enable-source-maps', '-r', '@swc-node/register', join(ctx.config.repoRoot, spec.entry)],
            {
              cwd: ctx.config.repoRoot,
              env: {
                ...process.env,
                ...platformEnv(ctx),
                ...(spec.extraEnv?.(ctx) ?? {}),
                SWC_NODE_PROJECT: join(ctx.config.repoRoot, 'tsconfig.base.json'),
                NODE_ENV: process.env.NODE_ENV ?? 'development',
              },
            },
          ),
        { readyTimeoutMs: 90_000, portEnv: { [spec.port(ctx)]: spec.portEnv } },
      );
    },
    async stop(ctx) {
      await ctx.supervisor.stop(spec.name, 20_000);
    },
    async ready(ctx) {
      try {
        const res = await fetch(`${url(ctx)}/readyz`, { signal: AbortSignal.timeout(2000) });
        return res.ok;
      } catch {
        return false;
      }
    },
  };
}

export const workflowWorker = nodeService({
  name: 'workflow-worker',
  title: 'Temporal workflow worker',
  entry: 'workflows/src/worker/main.ts',
  port: (ctx) => ctx.config.ports.workerHealth,
  portEnv: 'QUIRE_WORKER_HEALTH_PORT',
});

export const gateway = nodeService({
  name: 'gateway',
  title: 'Quire gateway',
  entry: 'services/gateway/src/main.ts',
  port: (ctx) => ctx.config.ports.gateway,
  portEnv: 'QUIRE_GATEWAY_PORT',
});

export const hostWorker = nodeService({
  name: 'host-worker',
  title: 'Quire host worker',
  entry: 'services/host-worker/src/main.ts',
  port: (ctx) => ctx.config.ports.hostWorker,
  portEnv: 'QUIRE_HOST_WORKER_PORT',
});

export const billing = nodeService({
  name: 'billing',
  title: 'Quire billing',
  entry: 'services/billing/src/main.ts',
  port: (ctx) => ctx.config.ports.billing,
  portEnv: 'QUIRE_BILLING_PORT',
});

export const docSync = nodeService({
  name: 'doc-sync',
  title: 'Quire doc-sync',
  entry: 'services/doc-sync/src/main.ts',
  port: (ctx) => ctx.config.ports.docSync,
  portEnv: 'QUIRE_DOC_SYNC_PORT',
  // Browsers load the editor from the gateway, so doc-sync accepts the gateway's origin
  // (the gateway derives its own allowlist from its port).
  extraEnv: (ctx) => ({
    QUIRE_ALLOWED_ORIGINS: [...new Set([ctx.config.bindHost, '127.0.0.1', 'localhost'])]
      .map((h) => `http://${h}:${ctx.config.ports.gateway}`)
      .join(','),
  }),
});

export const agent = nodeService({
  name: 'agent',
  title: 'Quire agent service',
  entry: 'services/agent/src/main.ts',
  port: (ctx) => ctx.config.ports.agent,
  portEnv: 'QUIRE_AGENT_PORT',
  // The deployment's LLM defaults to the embedded local model; an admin's
  // QUIRE_AGENT_LLM_* settings in the environment win.
  extraEnv: (ctx) => ({
    QUIRE_AGENT_LLM_BASE_URL:
      process.env.QUIRE_AGENT_LLM_BASE_URL ?? `http://${ctx.config.bindHost}:${ctx.config.ports.localLlm}/v1`,
  }),
});

export const gpuScheduler = nodeService({
  name: 'gpu-scheduler',
  title: 'Quire gpu-scheduler',
  entry: 'services/gpu-scheduler/src/main.ts',
  port: (ctx) => ctx.config.ports.gpuScheduler,
  portEnv: 'QUIRE_GPU_SCHEDULER_PORT',
});
