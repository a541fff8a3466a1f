import type { QueueEntry } from '@quire/contracts';
import { cellQueuePosition, queueMessage } from '../src/kernel/queue-message';
import { kernelStatusText } from '../src/kernel/kernel-status-text';

const entry = (position: number, userId: string, userName: string, cellId: string): QueueEntry => ({
  executionId: `e-${position}`,
  cellId,
  userId,
  userName,
  position,
});
const numbers: Record<string, number> = { c7: 7, c2: 2, c3: 3 };
const cellNumber = (id: string) => numbers[id] ?? null;

describe('queue message', () => {
  it('tells the queued user who runs what and their position', () => {
    const q = [entry(0, 'alice', 'Alice', 'c7'), entry(1, 'bob', 'Bob', 'c2')];
    expect(queueMessage(q, 'bob', cellNumber)).toBe(
      'Alice is running cell 7; your run is queued — position 1',
    );
  });

  it('tells the runner it is them, and how many wait', () => {
    const q = [entry(0, 'alice', 'Alice', 'c7'), entry(1, 'bob', 'Bob', 'c2')];
    expect(queueMessage(q, 'alice', cellNumber)).toBe('You are running cell 7; 1 more queued');
  });

  it('says the head of the queue waits while the kernel starts or restores, not that it runs', () => {
    const q = [entry(0, 'alice', 'Alice', 'c7'), entry(1, 'bob', 'Bob', 'c2')];
    expect(queueMessage(q, 'alice', cellNumber, 'restoring')).toBe(
      'Your run of cell 7 starts when the kernel is ready; 1 more queued',
    );
    expect(queueMessage(q, 'bob', cellNumber, 'starting')).toBe(
      'Alice’s run of cell 7 starts when the kernel is ready; your run is queued — position 1',
    );
    expect(queueMessage(q, 'bob', cellNumber, 'idle')).toBe(
      'Alice is running cell 7; your run is queued — position 1',
    );
  });

  it('counts several of my queued runs', () => {
    const q = [entry(0, 'alice', 'Alice', 'c7'), entry(1, 'bob', 'Bob', 'c2'), entry(2, 'bob', 'Bob', 'c3')];
    expect(queueMessage(q, 'bob', cellNumber)).toBe(
      'Alice is running cell 7; 2 of your runs are queued — next at position 1',
    );
  });

  it('says nothing for an empty queue and copes with an unknown cell', () => {
    expect(queueMessage([], 'bob', cellNumber)).toBeNull();
    expect(queueMessage([entry(0, 'alice', 'Alice', 'gone')], 'bob', cellNumber)).toBe(
      'Alice is running a cell',
    );
  });

  it('gives a cell its queue position', () => {
    const q = [entry(0, 'alice', 'Alice', 'c7'), entry(1, 'bob', 'Bob', 'c2')];
    expect(cellQueuePosition(q, 'c2')).toBe(1);
    expect(cellQueuePosition(q, 'c7')).toBe(0);
    expect(cellQueuePosition(q, 'c3')).toBeNull();
  });
});

describe('kernel status text', () => {
  it('is honest about a dead kernel and offers Run All', () => {
    const t = kernelStatusText(
      { state: 'dead', reason: 'oom', message: 'Kernel died (out of memory at 7.8 GiB / 8 GiB)' },
      true,
    );
    expect(t.label).toBe('Kernel died (out of memory at 7.8 GiB / 8 GiB)');
    expect(t.detail).toBe('Your notebook is intact. Run All to recompute.');
    expect(t.action).toBe('run-all');
  });

  it('explains hibernation', () => {
    expect(kernelStatusText({ state: 'hibernated', since: '2026-01-01T00:00:00Z' }, true).detail).toContain(
      'restores when you run a cell',
    );
  });

  it('shows progress while starting, and a lost channel', () => {
    expect(kernelStatusText({ state: 'starting', progress: 'booting sandbox' }, true)).toMatchObject({
      label: 'Kernel starting…',
      detail: 'booting sandbox',
    });
    expect(kernelStatusText({ state: 'idle' }, false).label).toBe('Connecting to the kernel…');
  });
});
