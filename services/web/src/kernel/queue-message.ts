import type { KernelStatus, QueueEntry } from '@quire/contracts';

/**
 * The sentence a collaborator reads about the execute queue, e.g.
 * "Alice is running cell 7; your run is queued — position 1". Cells are
 * numbered 1-based in notebook order, as people count them on screen.
 * While the kernel is still starting or restoring, the head of the queue is
 * waiting for it, not running, and the sentence says so.
 */
export function queueMessage(
  entries: readonly QueueEntry[],
  myUserId: string,
  cellNumber: (cellId: string) => number | null,
  kernelState: KernelStatus['state'] = 'busy',
): string | null {
  if (entries.length === 0) return null;
  const sorted = [...entries].sort((a, b) => a.position - b.position);
  const running = sorted.find((e) => e.position === 0) ?? null;
  const mine = sorted.filter((e) => e.userId === myUserId && e.position > 0);
  const cell = (id: string) => {
    const n = cellNumber(id);
    return n === null ? 'a cell' : `cell ${n}`;
  };

  const parts: string[] = [];
  const kernelUp = kernelState === 'idle' || kernelState === 'busy';
  if (running && kernelUp) {
    parts.push(
      running.userId === myUserId
        ? `You are running ${cell(running.cellId)}`
        : `${running.userName} is running ${cell(running.cellId)}`,
    );
  } else if (running) {
    const whose = running.userId === myUserId ? 'your' : `${running.userName}’s`;
    parts.push(`${whose} run of ${cell(running.cellId)} starts when the kernel is ready`);
  }
  if (mine.length === 1) {
    parts.push(`your run is queued — position ${mine[0]!.position}`);
  } else if (mine.length > 1) {
    parts.push(`${mine.length} of your runs are queued — next at position ${mine[0]!.position}`);
  } else {
    const others = sorted.filter((e) => e.position > 0).length;
    if (others > 0) parts.push(`${others} more queued`);
  }
  if (parts.length === 0) return null;
  const text = parts.join('; ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Where one cell stands in the queue, for its prompt: 0 running, ≥1 queued, null not queued. */
export function cellQueuePosition(entries: readonly QueueEntry[], cellId: string): number | null {
  let best: number | null = null;
  for (const e of entries) if (e.cellId === cellId && (best === null || e.position < best)) best = e.position;
  return best;
}
