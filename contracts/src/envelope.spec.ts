import { createEvent, EventValidationError, validateEnvelope } from './envelope';
import { ExecuteQueued } from './events/exec.v1';
import { HostHeartbeat } from './events/host-events.v1';
import { findEventDefinition } from './events/registry';
import { ALL_TOPICS } from './topics';
import { ALL_EVENTS } from './events/registry';

const heartbeat = {
  hostId: 'host-a',
  seq: 1,
  capacity: { cpuCores: 2, memoryBytes: 8 * 1024 ** 3 },
  free: { cpuCores: 1.5, memoryBytes: 6 * 1024 ** 3 },
  sandboxes: 0,
  warmPool: { ready: 2, target: 2 },
  labels: {},
};

describe('event envelope', () => {
  it('builds a valid envelope with a UUIDv7 id', () => {
    const e = createEvent(HostHeartbeat, {
      subject: 'host-a',
      tenant: 'system',
      source: 'host-worker/a',
      data: heartbeat,
    });
    expect(e.type).toBe('quire.host.HostHeartbeat');
    expect(e.schemaVersion).toBe(1);
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(() => validateEnvelope(e, HostHeartbeat)).not.toThrow();
  });

  it('refuses bad data with every problem listed', () => {
    expect(() =>
      createEvent(ExecuteQueued, {
        subject: 'k1',
        tenant: 'org1',
        source: 'gateway/1',
        data: { executionId: 'e1', kernelId: 'k1', userId: 'u1', position: 0 } as never,
      }),
    ).toThrow(/position/);
    try {
      validateEnvelope({ id: 'not-a-uuid', type: 'nope', data: {} }, HostHeartbeat);
      fail('should throw');
    } catch (err) {
      expect(err).toBeInstanceOf(EventValidationError);
      const issues = (err as EventValidationError).issues.join('\n');
      expect(issues).toMatch(/id: id must be a UUIDv7/);
      expect(issues).toMatch(/type:/);
      expect(issues).toMatch(/tenant/);
    }
  });

  it('keeps unknown data fields out of the way (forward compatible) and rejects unknown versions', () => {
    const e = createEvent(HostHeartbeat, { subject: 'h', tenant: 'system', source: 's/1', data: heartbeat });
    const fromNewerProducer = { ...e, data: { ...heartbeat, gpuSlicesFree: 3 } };
    expect(() => validateEnvelope(fromNewerProducer, HostHeartbeat)).not.toThrow();
    expect(() => validateEnvelope({ ...e, schemaVersion: 2 }, HostHeartbeat)).toThrow(
      /unsupported schemaVersion/,
    );
  });
});

describe('registry', () => {
  it('has every event on a registered topic, owned by one service', () => {
    const topicNames = new Set(ALL_TOPICS.map((t) => t.name));
    for (const def of ALL_EVENTS) expect(topicNames.has(def.topic)).toBe(true);
    expect(new Set(ALL_EVENTS.map((d) => `${d.type}@${d.schemaVersion}`)).size).toBe(ALL_EVENTS.length);
    expect(findEventDefinition('quire.host.HostHeartbeat', 1)).toBe(HostHeartbeat);
    expect(findEventDefinition('quire.host.HostHeartbeat', 9)).toBeUndefined();
  });

  it('covers every stream named in the architecture', () => {
    expect(ALL_TOPICS.map((t) => t.name).sort()).toEqual(
      [
        'agent.v1',
        'billing.usage.v1',
        'doc.v1',
        'exec.v1',
        'gpu.v1',
        'host.events.v1',
        'kernel.lifecycle.v1',
      ].sort(),
    );
  });
});
