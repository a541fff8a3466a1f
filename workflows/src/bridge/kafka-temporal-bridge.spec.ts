import {
  createEvent,
  ExecuteCompleted,
  ExecuteRequested,
  HostHeartbeat,
  SandboxExited,
  SnapshotTaken,
} from '@quire/contracts';
import { signalFor } from './kafka-temporal-bridge';

const base = { source: 'test/1', subject: 'k1', tenant: 'org-a' };

describe('Kafka → Temporal: which event becomes which signal', () => {
  it('exec events are activity signals to the kernel’s workflow, carrying the event id', () => {
    const e = createEvent(ExecuteRequested, {
      ...base,
      data: {
        executionId: 'x1',
        kernelId: 'k1',
        notebookId: 'nb',
        cellId: null,
        userId: 'u',
        origin: 'human',
        codeSha256: 'a'.repeat(64),
        codeBytes: 3,
      },
    });
    expect(signalFor(e)).toEqual({
      workflowId: 'kernel-lifecycle:k1',
      signal: 'activity',
      arg: { kind: 'execute-requested', eventId: e.id, at: e.time },
    });
    const done = createEvent(ExecuteCompleted, {
      ...base,
      data: { executionId: 'x1', kernelId: 'k1', userId: 'u', status: 'ok', ms: 3, executionCount: 1 },
    });
    expect(signalFor(done)?.arg).toMatchObject({ kind: 'execute-completed' });
  });

  it('an OOM exit becomes a host event with its figures; our own shutdown does not', () => {
    const data = {
      hostId: 'h1',
      sandboxId: 's1',
      kernelId: 'k1',
      exitCode: null,
      signal: 'SIGKILL',
      message: 'out of memory',
    };
    const oom = createEvent(SandboxExited, {
      ...base,
      data: { ...data, reason: 'oom', peakMemoryBytes: 10, memoryLimitBytes: 10 },
    });
    expect(signalFor(oom)).toEqual({
      workflowId: 'kernel-lifecycle:k1',
      signal: 'hostEvent',
      arg: {
        kind: 'sandbox-exited',
        eventId: oom.id,
        hostId: 'h1',
        reason: 'oom',
        message: 'out of memory',
        peakMemoryBytes: 10,
        memoryLimitBytes: 10,
      },
    });
    expect(
      signalFor(createEvent(SandboxExited, { ...base, data: { ...data, reason: 'shutdown' } })),
    ).toBeNull();
  });

  it('only %checkpoint snapshots are news to the workflow; heartbeats are for the registry', () => {
    const snap = (trigger: 'hibernate' | 'checkpoint-magic') =>
      createEvent(SnapshotTaken, {
        ...base,
        data: {
          hostId: 'h1',
          sandboxId: 's1',
          kernelId: 'k1',
          snapshotId: 's-1',
          bytes: 1,
          ms: 1,
          residentBytes: 1,
          location: 's3://b/k',
          trigger,
        },
      });
    expect(signalFor(snap('hibernate'))).toBeNull();
    expect(signalFor(snap('checkpoint-magic'))?.arg).toMatchObject({
      kind: 'snapshot-taken',
      snapshotId: 's-1',
    });
    const hb = createEvent(HostHeartbeat, {
      ...base,
      data: {
        hostId: 'h1',
        seq: 1,
        capacity: { cpuCores: 1, memoryBytes: 1 },
        free: { cpuCores: 1, memoryBytes: 1 },
        sandboxes: 0,
        warmPool: { ready: 0, target: 0 },
        labels: {},
      },
    });
    expect(signalFor(hb)).toBeNull();
  });
});
