import {
  HostHeartbeat,
  KernelStateChanged,
  TOPICS,
  uuidv7,
  type EventEnvelope,
  type GpuRequestState,
  type HostGpu,
} from '@quire/contracts';
import { createKafka, createProducer, decodeEvent, EventProducer } from '@quire/contracts/kafka';
import { freePort, platformVar, startServiceProcess, type ServiceProcess } from '@quire/service-kit';
import type { Consumer, Kafka, Producer } from 'kafkajs';

/**
 * Test support for the gpu-scheduler on the real platform: the scheduler as
 * its own process (so a test can kill -9 it), hosts that advertise GPUs the
 * test defines (real HostHeartbeat events on host.events.v1, labelled with
 * the test's fleet), and a reader of gpu.v1.
 */
export function kafka(): Kafka {
  return createKafka({
    brokers: platformVar('QUIRE_KAFKA_BROKERS').split(','),
    clientId: `gpu-it-${uuidv7().slice(-6)}`,
  });
}

export async function startScheduler(
  name: string,
  env: { schema: string; fleet: string; port?: number; groupId?: string } & Record<
    string,
    string | number | undefined
  >,
): Promise<ServiceProcess> {
  const port = env.port ?? (await freePort());
  const { schema, fleet, groupId, ...rest } = env;
  const extra: Record<string, string> = {};
  for (const [k, v] of Object.entries(rest)) if (v !== undefined && k !== 'port') extra[k] = String(v);
  return startServiceProcess({
    name,
    entry: 'services/gpu-scheduler/src/main.ts',
    port,
    env: {
      QUIRE_GPU_SCHEDULER_PORT: String(port),
      QUIRE_GPU_SCHEDULER_SCHEMA: schema,
      QUIRE_GPU_FLEET: fleet,
      QUIRE_GPU_SCHEDULER_GROUP_ID: groupId ?? `gpu-it-${schema}`,
      QUIRE_INSTANCE_ID: name,
      QUIRE_LOG_LEVEL: 'warn',
      ...extra,
    },
    readyTimeoutMs: 90_000,
  });
}

export const wholeGpu = (uuid: string, index: number, over: Partial<HostGpu> = {}): HostGpu => ({
  uuid,
  index,
  model: 'NVIDIA H100 80GB HBM3',
  gpuType: 'h100-80gb',
  memoryBytes: 80 * 1024 ** 3,
  driverVersion: '550.90.07',
  cudaVersion: '12.4',
  migMode: 'disabled',
  migInstances: [],
  sandbox: { wholeGpu: true, migSlices: false },
  cudaCheckpoint: false,
  ...over,
});

/** A host worker as the scheduler hears it: a heartbeat every `everyMs` with the GPUs the test gives it. */
export class FakeGpuHost {
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;

  constructor(
    private readonly events: EventProducer,
    readonly hostId: string,
    readonly fleet: string,
    public gpus: HostGpu[],
    private readonly everyMs = 1000,
  ) {}

  async beat(): Promise<void> {
    await this.events.publish(HostHeartbeat, {
      subject: this.hostId,
      tenant: 'platform',
      data: {
        hostId: this.hostId,
        seq: this.seq++,
        capacity: { cpuCores: 16, memoryBytes: 64 * 1024 ** 3 },
        free: { cpuCores: 16, memoryBytes: 64 * 1024 ** 3 },
        sandboxes: 0,
        warmPool: { ready: 0, target: 0 },
        labels: { 'quire.fleet': this.fleet },
        apiUrl: `http://127.0.0.1:1/${this.hostId}`,
        gpus: this.gpus,
      },
    });
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch(() => undefined), this.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export async function hostEvents(k: Kafka): Promise<{ producer: Producer; events: EventProducer }> {
  const producer = createProducer(k);
  await producer.connect();
  return { producer, events: new EventProducer(producer, 'host-worker', 'gpu-it') };
}

/** A kernel's lifecycle state change as the workflows would publish it. */
export async function publishKernelState(
  producer: Producer,
  kernelId: string,
  tenant: string,
  from: string,
  to: string,
): Promise<void> {
  await new EventProducer(producer, 'workflows', 'gpu-it').publish(KernelStateChanged, {
    subject: kernelId,
    tenant,
    data: {
      kernelId,
      notebookId: `nb-${kernelId}`,
      from: from as never,
      to: to as never,
      reason: 'test',
      hostId: null,
      tier: 'gpu',
    },
  });
}

/** gpu.v1 from its beginning, kept when the tenant is one of the test's. */
export class GpuEventLog {
  readonly events: EventEnvelope[] = [];
  private consumer: Consumer | undefined;

  constructor(
    private readonly k: Kafka,
    private readonly keep: (e: EventEnvelope) => boolean,
  ) {}

  async start(): Promise<void> {
    this.consumer = this.k.consumer({ groupId: `gpu-it-log-${uuidv7()}` });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: TOPICS.gpu.name, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ message }) => {
        const e = decodeEvent(message.headers, message.value) as unknown as EventEnvelope;
        if (this.keep(e)) this.events.push(e);
      },
    });
  }

  of(requestId: string): EventEnvelope[] {
    return this.events.filter((e) => e.subject === requestId);
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

export interface Problem {
  status: number;
  code: string;
  detail: string;
}

export async function call<T>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const token = process.env.QUIRE_INTERNAL_TOKEN;
  const res = await fetch(new URL(path, base), {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

export const ask = (base: string, body: Record<string, unknown>) =>
  call<GpuRequestState>(base, 'POST', '/internal/gpu/requests', body);

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
