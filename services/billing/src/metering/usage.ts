/**
 * What metering produces: quantities in integer base units per usage key. A
 * usage key is one hour (UTC) × org × user × notebook × kernel × execution ×
 * agent run × resource × SKU × who pays. Keys are recomputed from the event
 * journal; the ledger records how each key's quantity changed over time.
 */
export type Resource =
  'cpu' | 'memory' | 'gpu' | 'snapshot-storage' | 'agent-tokens' | 'agent-steps' | 'agent-cost';
export type ChargeTo = 'org' | 'agent-run';

export const HOUR_MS = 3_600_000;

export interface UsageDims {
  periodStart: number;
  orgId: string;
  userId: string | null;
  notebookId: string | null;
  kernelId: string | null;
  executionId: string | null;
  cellId: string | null;
  agentRunId: string | null;
  resource: Resource;
  sku: string;
  chargeTo: ChargeTo;
}

export interface UsageValue {
  dims: UsageDims;
  /** Integer quantity in the resource's base unit (see rating/resources.ts). */
  base: bigint;
  /** The source events that bound this key's intervals (id → event time, ms). */
  events: Map<string, number>;
}

export type UsageMap = Map<string, UsageValue>;

export function usageKey(d: UsageDims): string {
  return [
    new Date(d.periodStart).toISOString(),
    d.resource,
    d.sku,
    d.chargeTo,
    d.orgId,
    d.userId ?? '',
    d.notebookId ?? '',
    d.kernelId ?? '',
    d.executionId ?? '',
    d.cellId ?? '',
    d.agentRunId ?? '',
  ].join('|');
}

export function addUsage(
  map: UsageMap,
  dims: UsageDims,
  base: bigint,
  events: readonly (JournalEventRef | undefined)[],
): void {
  if (base === 0n) return;
  const key = usageKey(dims);
  let v = map.get(key);
  if (!v) {
    v = { dims, base: 0n, events: new Map() };
    map.set(key, v);
  }
  v.base += base;
  for (const e of events) if (e) v.events.set(e.id, e.time);
}

export interface JournalEventRef {
  id: string;
  time: number;
}

/** One journal row as the meters see it. */
export interface JournalEvent extends JournalEventRef {
  type: string;
  tenant: string;
  // Validated against the registry at the sink; the meters read known fields only.
  data: Record<string, unknown>;
}

export function byTimeThenId(a: JournalEventRef, b: JournalEventRef): number {
  return a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export function hourOf(t: number): number {
  return Math.floor(t / HOUR_MS) * HOUR_MS;
}
