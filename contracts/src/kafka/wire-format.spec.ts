import { createEvent } from '../envelope';
import { KernelDied } from '../events/kernel-lifecycle.v1';
import { decodeEvent, DecodeError, encodeEvent, HEADER } from './wire-format';
import { EventProducer } from './event-producer';
import { ExecuteQueued } from '../events/exec.v1';
import type { Producer } from 'kafkajs';

const died = createEvent(KernelDied, {
  subject: 'k-1',
  tenant: 'org-1',
  source: 'workflows/w1',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  data: {
    kernelId: 'k-1',
    notebookId: 'nb-1',
    reason: 'oom',
    message: 'Kernel died (out of memory at 7.8 GiB / 8 GiB)',
    cellId: 'c-7',
    peakMemoryBytes: 8375186227,
    memoryLimitBytes: 8589934592,
  },
});

describe('wire format (binary CloudEvents over Kafka)', () => {
  it('round-trips an envelope through headers + JSON value', () => {
    const wire = encodeEvent(died);
    expect(wire.key).toBe('k-1');
    expect(wire.headers[HEADER.type]).toBe('quire.kernel.KernelDied');
    expect(wire.headers.traceparent).toBe(died.traceparent);
    const headers = Object.fromEntries(Object.entries(wire.headers).map(([k, v]) => [k, Buffer.from(v)]));
    expect(decodeEvent(headers, wire.value)).toEqual(died);
  });

  it('says clearly when the value is not JSON', () => {
    expect(() => decodeEvent({}, Buffer.from('{oops'))).toThrow(DecodeError);
    expect(() => decodeEvent({}, null)).toThrow(/tombstone/);
  });
});

describe('EventProducer', () => {
  const sent: unknown[] = [];
  const fake = { send: async (r: unknown) => void sent.push(r) } as unknown as Producer;

  it('refuses to publish on a topic another service owns', async () => {
    const billing = new EventProducer(fake, 'billing', 'b1');
    await expect(
      billing.publish(ExecuteQueued, {
        subject: 'k',
        tenant: 'o',
        data: { executionId: 'e', kernelId: 'k', userId: 'u', position: 1 },
      }),
    ).rejects.toThrow(/owned by gateway/);
    expect(sent).toHaveLength(0);
  });

  it('validates before sending', async () => {
    const gateway = new EventProducer(fake, 'gateway', 'g1');
    await expect(
      gateway.publish(ExecuteQueued, {
        subject: 'k',
        tenant: 'o',
        data: { executionId: 'e', kernelId: 'k', userId: 'u', position: -1 },
      }),
    ).rejects.toThrow(/position/);
    expect(sent).toHaveLength(0);
    await gateway.publish(ExecuteQueued, {
      subject: 'k',
      tenant: 'o',
      data: { executionId: 'e', kernelId: 'k', userId: 'u', position: 1 },
    });
    expect(sent).toHaveLength(1);
  });
});
