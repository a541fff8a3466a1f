import { KERNEL_LIFECYCLE, kernelLifecycleWorkflowId, type LifecycleSnapshot } from '@quire/contracts';
import { Client, Connection } from '@temporalio/client';
import { bold, dim, info, PlatformError } from '../progress';

/**
 * `quire kernels ls|show <id>`: the SREs' view of kernel lifecycles, read from
 * the workflows themselves (Temporal visibility + the `state` query), so it
 * works the same against a local platform and a cluster
 * (QUIRE_TEMPORAL_ADDRESS, QUIRE_TEMPORAL_NAMESPACE).
 */
export const KERNELS_USAGE = `quire kernels <command>

  ls [--all] [--json]        kernels with a running lifecycle workflow (--all: closed ones too)
  show <kernelId> [--json]   state, host, timers, last snapshot, last death, recent transitions

Set QUIRE_TEMPORAL_ADDRESS to reach a Temporal cluster elsewhere.`;

export interface SreEnv {
  QUIRE_TEMPORAL_ADDRESS: string;
  QUIRE_TEMPORAL_NAMESPACE: string;
  QUIRE_KAFKA_BROKERS: string;
}

export class SreCommandError extends PlatformError {
  constructor(piece: string, problem: string, remedy: string) {
    super(piece, problem, remedy);
  }
}

export async function temporalClient(env: SreEnv): Promise<{ client: Client; close: () => Promise<void> }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: env.QUIRE_TEMPORAL_ADDRESS, connectTimeout: 5000 });
  } catch (err) {
    throw new SreCommandError(
      'temporal',
      `cannot reach Temporal at ${env.QUIRE_TEMPORAL_ADDRESS}: ${(err as Error).message}`,
      'start the platform (quire up) or set QUIRE_TEMPORAL_ADDRESS',
    );
  }
  return {
    client: new Client({ connection, namespace: env.QUIRE_TEMPORAL_NAMESPACE }),
    close: () => connection.close(),
  };
}

export function kernelIdOfWorkflow(workflowId: string): string {
  return workflowId.replace(/^kernel-lifecycle:/, '');
}

function ago(iso: string | null): string {
  if (!iso) return '—';
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return s >= 0 ? `in ${s}s` : `${-s}s ago`;
}

/** A query needs a live worker; without one it would hang, so it gets a few seconds. */
export async function queryState(
  client: Client,
  kernelId: string,
  timeoutMs = 5000,
): Promise<LifecycleSnapshot> {
  try {
    return await client.withDeadline(Date.now() + timeoutMs, () =>
      client.workflow
        .getHandle(kernelLifecycleWorkflowId(kernelId))
        .query<LifecycleSnapshot>(KERNEL_LIFECYCLE.stateQuery),
    );
  } catch (err) {
    throw new SreCommandError(
      'kernels',
      `no lifecycle workflow answers for kernel ${kernelId}: ${(err as Error).message}`,
      'check the id with `quire kernels ls --all`; a closed workflow has no live state and one whose worker is down cannot answer (`quire timeline` works for both)',
    );
  }
}

export function renderSnapshot(s: LifecycleSnapshot): string {
  const lines = [
    `${bold(s.kernelId)}  ${s.state}  tier ${s.tier}  notebook ${s.notebookId}`,
    `  host            ${s.hostId ?? '—'} ${s.hostApiUrl ? dim(s.hostApiUrl) : ''}`,
    `  last snapshot   ${s.lastSnapshot ? `${s.lastSnapshot.snapshotId} (${(s.lastSnapshot.bytes / 1024 ** 2).toFixed(1)} MiB, ${s.lastSnapshot.at})` : '—'}`,
    `  timers          idle ${ago(s.timers.idleAt)}, hibernate ${ago(s.timers.hibernateAt)}, evict ${ago(s.timers.evictAt)}, background snapshot ${ago(s.timers.backgroundSnapshotAt)}`,
    `  last death      ${s.lastDeath ? `${s.lastDeath.reason} at ${s.lastDeath.at}: ${s.lastDeath.message}` : '—'}`,
  ];
  if (s.queued)
    lines.push(`  queued          ${s.queued.reason}, ETA ${s.queued.etaS}s (since ${s.queued.since})`);
  if (s.generation) lines.push(`  generation      ${s.generation} (continued as new)`);
  lines.push('  recent transitions:');
  for (const h of s.history.slice(-10)) lines.push(`    ${h.at}  ${h.from} → ${h.to}  ${dim(h.reason)}`);
  return lines.join('\n');
}

export async function runKernelsCommand(args: string[], env: SreEnv): Promise<number> {
  const [sub, ...rest] = args;
  const json = rest.includes('--json');
  if (sub === undefined || sub === 'help' || sub === '--help') {
    info(KERNELS_USAGE);
    return 0;
  }
  if (sub !== 'ls' && sub !== 'show') {
    info(KERNELS_USAGE);
    throw new SreCommandError(
      'kernels',
      `unknown command "${sub}"`,
      'use `quire kernels ls` or `quire kernels show <kernelId>`',
    );
  }
  const { client, close } = await temporalClient(env);
  try {
    if (sub === 'show') {
      const id = rest.find((a) => !a.startsWith('--'));
      if (!id) throw new SreCommandError('kernels', 'missing kernel id', 'e.g. quire kernels show k-123');
      const s = await queryState(client, kernelIdOfWorkflow(id));
      const d = await client.workflow.getHandle(kernelLifecycleWorkflowId(kernelIdOfWorkflow(id))).describe();
      const pending = (d.raw.pendingActivities ?? []).map((a) => ({
        activity: a.activityType?.name ?? '?',
        attempt: a.attempt ?? 1,
        lastFailure: a.lastFailure?.message ?? null,
      }));
      if (json)
        info(
          JSON.stringify(
            { ...s, runId: d.runId, status: d.status.name, pendingActivities: pending },
            null,
            2,
          ),
        );
      else {
        info(renderSnapshot(s));
        info(`  workflow        ${d.workflowId} run ${d.runId} (${d.status.name})`);
        for (const p of pending)
          info(
            `  in flight       ${p.activity} attempt ${p.attempt}${p.lastFailure ? ` — last failure: ${p.lastFailure}` : ''}`,
          );
      }
      return 0;
    }
    const all = rest.includes('--all');
    const query = `WorkflowType='${KERNEL_LIFECYCLE.workflowType}'${all ? '' : " AND ExecutionStatus='Running'"}`;
    const rows: Record<string, unknown>[] = [];
    for await (const w of client.workflow.list({ query })) {
      const kernelId = kernelIdOfWorkflow(w.workflowId);
      let s: LifecycleSnapshot | undefined;
      if (w.status.name === 'RUNNING') s = await queryState(client, kernelId, 2000).catch(() => undefined);
      rows.push({
        kernelId,
        status: w.status.name,
        state: s?.state ?? (w.status.name === 'RUNNING' ? 'no answer (worker down?)' : '—'),
        tier: s?.tier ?? '—',
        host: s?.hostId ?? '—',
        lastSnapshot: s?.lastSnapshot?.snapshotId ?? '—',
        next: s ? nextTimer(s) : '—',
        started: w.startTime.toISOString(),
      });
      if (rows.length >= 1000) break;
    }
    if (json) info(JSON.stringify(rows, null, 2));
    else {
      info(bold(['KERNEL', 'STATE', 'TIER', 'HOST', 'NEXT', 'LAST SNAPSHOT'].join('\t')));
      for (const r of rows)
        info(
          [r.kernelId, r.state === '—' ? r.status : r.state, r.tier, r.host, r.next, r.lastSnapshot].join(
            '\t',
          ),
        );
      info(dim(`${rows.length} kernel(s)`));
    }
    return 0;
  } finally {
    await close();
  }
}

function nextTimer(s: LifecycleSnapshot): string {
  const t = Object.entries(s.timers).filter((e): e is [string, string] => e[1] !== null);
  if (t.length === 0) return '—';
  t.sort((a, b) => Date.parse(a[1]) - Date.parse(b[1]));
  return `${t[0]![0].replace(/At$/, '')} ${ago(t[0]![1])}`;
}
