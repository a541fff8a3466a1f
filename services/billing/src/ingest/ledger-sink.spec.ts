import { dirtyMarks, keysOf, type JournalRow } from './ledger-sink';
import type { EventEnvelope } from '@quire/contracts';

const row = (over: Partial<JournalRow>): JournalRow => ({
  eventId: 'x',
  type: 'quire.kernel.KernelStateChanged',
  tenant: 'acme',
  subject: 'k',
  eventTime: '2025-01-01T00:00:01.000Z',
  kernelId: null,
  runId: null,
  hostId: null,
  offset: '0',
  kafkaTs: '2025-01-01T00:00:02.000Z',
  data: '{}',
  ...over,
});

describe('ledger sink helpers', () => {
  it('marks each kernel, agent run and heartbeating host once per batch, in a stable order', () => {
    const marks = dirtyMarks([
      row({ kernelId: 'k2' }),
      row({ kernelId: 'k1', eventTime: '2025-01-01T00:00:05.000Z' }),
      row({ kernelId: 'k1', eventTime: '2025-01-01T00:00:00.000Z' }),
      row({ type: 'quire.agent.AgentStep', runId: 'r1' }),
      row({ type: 'quire.host.HostHeartbeat', hostId: 'h1' }),
      row({ type: 'quire.host.SandboxStarted', hostId: 'h1' }),
    ]);
    expect(marks.map((m) => `${m.kind}:${m.key}:${m.events}`)).toEqual([
      'host:h1:1',
      'kernel:k1:2',
      'kernel:k2:1',
      'run:r1:1',
    ]);
    const k1 = marks.find((m) => m.key === 'k1')!;
    expect(k1.maxTime - k1.minTime).toBe(5000);
  });

  it('keys agent events by run and everything else by kernel and host', () => {
    const e = (type: string, data: object) => ({ type, data }) as unknown as EventEnvelope;
    expect(keysOf(e('quire.agent.AgentRunStarted', { runId: 'r', kernelId: 'k' }))).toEqual({
      kernelId: null,
      runId: 'r',
      hostId: null,
    });
    expect(keysOf(e('quire.host.SnapshotTaken', { kernelId: 'k', hostId: 'h' }))).toEqual({
      kernelId: 'k',
      runId: null,
      hostId: 'h',
    });
  });
});
