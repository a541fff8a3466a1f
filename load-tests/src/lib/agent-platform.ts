import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  freePort,
  startServiceProcess,
  stopServiceProcess,
  type ServiceProcess,
  type ServiceProcessOptions,
} from '@quire/service-kit';

/**
 * The services an agent benchmark needs, each its own process from its own
 * entry point (as `quire` runs them), on free ports, against the running
 * platform's Kafka, PostgreSQL and Temporal: doc-sync, one host worker (gVisor
 * kernels), the gateway (direct kernel provider, forwarding agent-runs to the
 * agent started here) and the agent service (its own schema and task queue,
 * the LLM at `llmBaseUrl`). The same set the agent's integration test starts
 * (services/agent/test/support/agent-platform.ts); load tests may not import
 * a service's test code, so it is started here again.
 */
export interface AgentPlatform {
  gateway: ServiceProcess;
  docSync: ServiceProcess;
  host: ServiceProcess;
  agent: ServiceProcess;
  /** The agent service's Temporal task queue (its workflows run only there). */
  taskQueue: string;
  stop(): Promise<void>;
}

function service(name: string, entry: string, port: number, env: Record<string, string>, ready: string) {
  const opts: ServiceProcessOptions = {
    name: `bench-agent-${name}`,
    entry,
    port,
    env: { QUIRE_LOG_LEVEL: 'warn', ...env },
    readyPath: ready,
    readyPollMs: 200,
    readyTimeoutMs: 180_000,
    sourceMaps: false, // as in production
    killWithParent: true,
  };
  return startServiceProcess(opts);
}

export async function startAgentPlatform(opts: { llmBaseUrl: string }): Promise<AgentPlatform> {
  const [docPort, hostPort, gwPort, agentPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const tag = randomUUID().replace(/-/g, '').slice(0, 12);
  const taskQueue = `quire-agent-bench-${tag}`;
  const hostState = mkdtempSync(join(tmpdir(), 'quire-bench-agent-host-'));
  const volumes = mkdtempSync(join(tmpdir(), 'quire-bench-agent-volumes-'));
  const started: ServiceProcess[] = [];
  const stopAll = async () => {
    for (const s of [...started].reverse()) await stopServiceProcess(s, 'SIGTERM', 15_000);
    removeSandboxes(hostState);
  };
  try {
    const [docSync, host] = await Promise.all([
      service(
        'doc-sync',
        'services/doc-sync/src/main.ts',
        docPort,
        {
          QUIRE_DOC_SYNC_PORT: String(docPort),
          QUIRE_INSTANCE_ID: `doc-sync-bench-agent-${docPort}`,
        },
        '/healthz',
      ).then((s) => (started.push(s), s)),
      service(
        'host-worker',
        'services/host-worker/src/main.ts',
        hostPort,
        {
          QUIRE_HOST_WORKER_PORT: String(hostPort),
          QUIRE_HOST_ID: `bench-agent-${hostPort}`,
          QUIRE_HOST_STATE_DIR: hostState,
          QUIRE_VOLUMES_DIR: volumes,
          QUIRE_WARM_POOL_SIZE: '0',
        },
        '/healthz',
      ).then((s) => (started.push(s), s)),
    ]);
    const gateway = await service(
      'gateway',
      'services/gateway/src/main.ts',
      gwPort,
      {
        QUIRE_GATEWAY_PORT: String(gwPort),
        QUIRE_DOC_SYNC_URL: docSync.url,
        QUIRE_KERNEL_PROVIDER: 'direct',
        QUIRE_HOST_WORKER_URL: host.url,
        QUIRE_AGENT_URL: `http://127.0.0.1:${agentPort}`,
      },
      '/healthz',
    );
    started.push(gateway);
    const agent = await service(
      'agent',
      'services/agent/src/main.ts',
      agentPort,
      {
        QUIRE_AGENT_PORT: String(agentPort),
        QUIRE_GATEWAY_URL: gateway.url,
        QUIRE_DOC_SYNC_URL: docSync.url,
        QUIRE_AGENT_SCHEMA: `agent_bench_${tag}`,
        QUIRE_AGENT_TASK_QUEUE: taskQueue,
        QUIRE_AGENT_LLM_KIND: 'openai',
        QUIRE_AGENT_LLM_BASE_URL: opts.llmBaseUrl,
        QUIRE_AGENT_LLM_MODEL: 'scripted-model',
        QUIRE_AGENT_LLM_API_KEY: 'sk-bench',
        QUIRE_AGENT_LLM_STREAM: 'false',
        QUIRE_INSTANCE_ID: `agent-bench-${tag}`,
      },
      '/readyz',
    );
    started.push(agent);
    return { gateway, docSync, host, agent, taskQueue, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A host worker leaves its kernels running on shutdown (for re-adoption); the benchmark removes them. */
function removeSandboxes(stateDir: string): void {
  const runsc = process.env.QUIRE_RUNSC_PATH ?? '/usr/bin/runsc';
  const root = join(stateDir, 'runsc');
  const listed = spawnSync(runsc, ['--root', root, 'list', '--format=json'], { encoding: 'utf8' });
  if (listed.status !== 0) return;
  for (const c of (JSON.parse(listed.stdout || '[]') as { id: string }[] | null) ?? []) {
    spawnSync(runsc, ['--root', root, 'kill', c.id, 'KILL'], { stdio: 'ignore' });
    spawnSync(runsc, ['--root', root, 'delete', '-force', c.id], { stdio: 'ignore' });
  }
}
