import { firstDead, type HostLiveness } from './host-liveness';
import type { HostSpan, KernelMeterParams, KernelMeterResult } from './kernel-meter';
import { addUsage, byTimeThenId, HOUR_MS, hourOf, type JournalEvent, type UsageMap } from './usage';

/**
 * The forked kernel of an agent's dry run (`fork.<agentRunId>.<label>`, FORK_KERNEL_ID in
 * contracts/src/api/host-worker-api.ts) is billed to the run: CPU and memory of its sandbox
 * from `SandboxStarted` to its `SandboxExited` (or host loss, or the watermark while it runs),
 * charged to the agent run (`charge_to = agent-run`, `agent_run_id` = the run), never to the
 * org's or a user's compute quota. A fork has no lifecycle events, so the org is the tenant of
 * its host events and it is priced at the team tier (the parent's tier is not on them).
 * The pattern is repeated here rather than imported so billing reads only published events.
 */
const FORK_KERNEL_ID = /^fork\.([A-Za-z0-9-]{1,64})\.([A-Za-z0-9-]{1,40})$/;
const FORK_TIER = 'team';

export function agentRunOfFork(kernelId: string): string | null {
  return FORK_KERNEL_ID.exec(kernelId)?.[1] ?? null;
}

export function meterForkKernel(
  kernelId: string,
  runId: string,
  unsorted: readonly JournalEvent[],
  hosts: ReadonlyMap<string, HostLiveness>,
  p: KernelMeterParams,
): KernelMeterResult {
  const events = [...unsorted].sort(byTimeThenId);
  const usage: UsageMap = new Map();
  const spans: HostSpan[] = [];
  let recheck: number | null = null;
  const W = p.watermark;
  const starts = events.filter((e) => e.type === 'quire.host.SandboxStarted' && e.tenant !== 'system');
  const orgId = starts[0]?.tenant ?? null;
  if (orgId === null) return { orgId: null, usage, spans, recheckAfterW: null };
  const seen = new Set<string>();
  for (const start of starts) {
    const sandboxId = typeof start.data.sandboxId === 'string' ? start.data.sandboxId : null;
    const hostId = typeof start.data.hostId === 'string' ? start.data.hostId : null;
    if (!sandboxId || seen.has(sandboxId)) continue;
    seen.add(sandboxId);
    const exit = events.find(
      (e) => e.type === 'quire.host.SandboxExited' && e.data.sandboxId === sandboxId && e.time >= start.time,
    );
    if (hostId) spans.push({ hostId, start: start.time, end: exit ? exit.time : null });
    const s = start.time;
    let end = exit ? exit.time : W;
    if (!exit) recheck = recheck === null ? W : Math.min(recheck, W);
    if (hostId) {
      const dead = firstDead(hosts.get(hostId), s, end, W, p.hostLossAfterMs);
      if (dead.recheckAfterW !== null)
        recheck = recheck === null ? dead.recheckAfterW : Math.min(recheck, dead.recheckAfterW);
      end = Math.min(end, dead.at);
    }
    if (end <= s) continue;
    const lim = start.data.limits as { cpuQuota?: unknown; memoryBytes?: unknown } | undefined;
    const millicores = BigInt(Math.round((typeof lim?.cpuQuota === 'number' ? lim.cpuQuota : 0) * 1000));
    const memoryBytes = BigInt(typeof lim?.memoryBytes === 'number' ? lim.memoryBytes : 0);
    for (let h = hourOf(s); h < end; h += HOUR_MS) {
      const a = Math.max(s, h);
      const b = Math.min(end, h + HOUR_MS);
      if (b <= a) continue;
      const evs = [a === s ? start : undefined, b === end && exit && b === exit.time ? exit : undefined];
      const dims = {
        periodStart: h,
        orgId,
        userId: null,
        notebookId: null,
        kernelId,
        executionId: null,
        cellId: null,
        agentRunId: runId,
        chargeTo: 'agent-run' as const,
      };
      const ms = BigInt(b - a);
      addUsage(usage, { ...dims, resource: 'cpu', sku: `cpu/${FORK_TIER}` }, millicores * ms, evs);
      addUsage(usage, { ...dims, resource: 'memory', sku: `memory/${FORK_TIER}` }, memoryBytes * ms, evs);
    }
  }
  return { orgId, usage, spans, recheckAfterW: recheck };
}
