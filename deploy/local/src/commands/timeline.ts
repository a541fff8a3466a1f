import { randomUUID } from 'node:crypto';
import { TOPICS, type EventEnvelope } from '@quire/contracts';
import { createKafka, decodeEvent } from '@quire/contracts/kafka';
import { dim, info } from '../progress';
import { kernelIdOfWorkflow, SreCommandError, temporalClient, type SreEnv } from './kernels';

/**
 * `quire timeline <kernelId>`: one ordered incident timeline of a kernel —
 * its lifecycle workflow's history (every run, across continue-as-new) merged
 * with its Kafka events (kernel.lifecycle.v1, exec.v1, and the host.events.v1
 * events that name it). Text by default, `--json` for tools.
 */
export const TIMELINE_USAGE = `quire timeline <kernelId> [--json] [--no-kafka] [--no-temporal]

Merges the kernel's Temporal workflow history with its Kafka events, ordered by time.`;

export interface TimelineEntry {
  at: string;
  source: 'temporal' | 'kafka';
  what: string;
  detail: string;
  ref: string;
}

const INTERESTING_DATA = [
  'from',
  'to',
  'reason',
  'status',
  'hostId',
  'snapshotId',
  'message',
  'trigger',
  'bytes',
  'ms',
];

function summarize(data: Record<string, unknown>): string {
  return INTERESTING_DATA.filter((k) => data[k] !== undefined && data[k] !== null)
    .map((k) => `${k}=${typeof data[k] === 'string' ? data[k] : JSON.stringify(data[k])}`)
    .join(' ');
}

/** Reads a topic from the beginning to its current end, keeping what the filter takes. */
async function scanTopic(
  env: SreEnv,
  topic: string,
  keep: (e: EventEnvelope) => boolean,
): Promise<EventEnvelope[]> {
  const kafka = createKafka({ brokers: env.QUIRE_KAFKA_BROKERS.split(','), clientId: 'quire-timeline' });
  const admin = kafka.admin();
  await admin.connect();
  let ends: { partition: number; high: string; low: string }[];
  try {
    ends = (await admin.fetchTopicOffsets(topic)).map((o) => ({
      partition: o.partition,
      high: o.high,
      low: o.low,
    }));
  } catch {
    await admin.disconnect();
    return []; // topic not created yet
  }
  await admin.disconnect();
  const pending = new Set(ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => e.partition));
  const found: EventEnvelope[] = [];
  if (pending.size === 0) return found;
  const consumer = kafka.consumer({ groupId: `quire-timeline-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolveAll, reject) => {
    const timer = setTimeout(() => reject(new Error(`reading ${topic} took over 60 s`)), 60_000);
    consumer
      .run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          try {
            const e = decodeEvent(message.headers, message.value) as unknown as EventEnvelope;
            if (keep(e)) found.push(e);
          } catch {
            // not an event of ours: the DLQ has the story
          }
          const high = ends.find((x) => x.partition === partition)!.high;
          if (BigInt(message.offset) + 1n >= BigInt(high)) {
            pending.delete(partition);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolveAll();
            }
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return found;
}

function describeTemporalEvent(e: Record<string, unknown>): { what: string; detail: string } | null {
  const type = String(e.eventType ?? '').replace(/^EVENT_TYPE_/, '');
  const attr = (name: string) => e[name] as Record<string, unknown> | undefined;
  const payloadText = (p: unknown) => {
    const payloads = (p as { payloads?: { data?: Uint8Array | string }[] } | undefined)?.payloads ?? [];
    return payloads
      .map((x) =>
        (typeof x.data === 'string' ? Buffer.from(x.data, 'base64') : Buffer.from(x.data ?? [])).toString(
          'utf8',
        ),
      )
      .join(' ')
      .slice(0, 300);
  };
  switch (type) {
    case 'WORKFLOW_EXECUTION_SIGNALED': {
      const a = attr('workflowExecutionSignaledEventAttributes')!;
      return { what: `signal ${String(a.signalName)}`, detail: payloadText(a.input) };
    }
    case 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED': {
      const a = attr('workflowExecutionUpdateAcceptedEventAttributes')!;
      const req = (a.acceptedRequest as { input?: { name?: string; args?: unknown } } | undefined)?.input;
      return { what: `update ${req?.name ?? '?'} accepted`, detail: payloadText(req?.args) };
    }
    case 'WORKFLOW_EXECUTION_UPDATE_COMPLETED': {
      const a = attr('workflowExecutionUpdateCompletedEventAttributes')!;
      const outcome = a.outcome as { success?: unknown; failure?: { message?: string } } | undefined;
      return {
        what: 'update completed',
        detail: outcome?.failure ? `failed: ${outcome.failure.message}` : payloadText(outcome?.success),
      };
    }
    case 'ACTIVITY_TASK_SCHEDULED': {
      const a = attr('activityTaskScheduledEventAttributes')!;
      return {
        what: `activity ${String((a.activityType as { name?: string })?.name)} scheduled`,
        detail: payloadText(a.input).slice(0, 200),
      };
    }
    case 'ACTIVITY_TASK_COMPLETED':
      return {
        what: 'activity completed',
        detail: payloadText(attr('activityTaskCompletedEventAttributes')!.result).slice(0, 200),
      };
    case 'ACTIVITY_TASK_FAILED':
    case 'ACTIVITY_TASK_TIMED_OUT': {
      const a = (attr('activityTaskFailedEventAttributes') ?? attr('activityTaskTimedOutEventAttributes'))!;
      return {
        what: `activity ${type.endsWith('FAILED') ? 'failed' : 'timed out'}`,
        detail: String((a.failure as { message?: string })?.message ?? ''),
      };
    }
    case 'TIMER_STARTED': {
      const a = attr('timerStartedEventAttributes')!;
      return { what: 'timer started', detail: `fires in ${JSON.stringify(a.startToFireTimeout)}` };
    }
    case 'TIMER_FIRED':
      return { what: 'timer fired', detail: '' };
    case 'WORKFLOW_EXECUTION_STARTED':
    case 'WORKFLOW_EXECUTION_COMPLETED':
    case 'WORKFLOW_EXECUTION_CONTINUED_AS_NEW':
    case 'WORKFLOW_EXECUTION_FAILED':
    case 'WORKFLOW_EXECUTION_TERMINATED':
    case 'WORKFLOW_TASK_FAILED':
      return { what: type.toLowerCase().replace(/_/g, ' '), detail: '' };
    default:
      return null; // workflow-task bookkeeping: noise in an incident timeline
  }
}

function isoOf(t: unknown): string {
  if (!t) return '';
  if (typeof t === 'string') return new Date(t).toISOString();
  const ts = t as { seconds?: { toNumber?: () => number } | number | string; nanos?: number };
  const secs =
    typeof ts.seconds === 'object' && ts.seconds?.toNumber ? ts.seconds.toNumber() : Number(ts.seconds ?? 0);
  return new Date(secs * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();
}

export async function buildTimeline(
  env: SreEnv,
  kernelId: string,
  opts: { kafka: boolean; temporal: boolean },
): Promise<TimelineEntry[]> {
  const entries: TimelineEntry[] = [];
  if (opts.temporal) {
    const { client, close } = await temporalClient(env);
    try {
      const workflowId = `kernel-lifecycle:${kernelId}`;
      const runs: string[] = [];
      for await (const w of client.workflow.list({ query: `WorkflowId='${workflowId}'` })) runs.push(w.runId);
      for (const runId of runs.reverse()) {
        const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
        for (const e of (history.events ?? []) as unknown as Record<string, unknown>[]) {
          const eventType = e.eventType;
          const named =
            typeof eventType === 'number' ? { ...e, eventType: temporalEventTypeName(eventType) } : e;
          const d = describeTemporalEvent(named);
          if (d)
            entries.push({
              at: isoOf(e.eventTime),
              source: 'temporal',
              ...d,
              ref: `${runId.slice(0, 8)}#${String(e.eventId)}`,
            });
        }
      }
    } finally {
      await close();
    }
  }
  if (opts.kafka) {
    const mine = (e: EventEnvelope) =>
      e.subject === kernelId || (e.data as { kernelId?: unknown } | undefined)?.kernelId === kernelId;
    for (const topic of [TOPICS.kernelLifecycle.name, TOPICS.exec.name, TOPICS.hostEvents.name]) {
      for (const e of await scanTopic(env, topic, mine)) {
        entries.push({
          at: new Date(e.time).toISOString(),
          source: 'kafka',
          what: e.type.replace(/^quire\./, ''),
          detail: summarize(e.data as Record<string, unknown>),
          ref: `${topic} ${e.id}`,
        });
      }
    }
  }
  return entries.sort((a, b) => a.at.localeCompare(b.at) || a.source.localeCompare(b.source));
}

/** Temporal's EventType enum numbers (the client decodes to numbers) to names. */
function temporalEventTypeName(n: number): string {
  const names: Record<number, string> = {
    1: 'WORKFLOW_EXECUTION_STARTED',
    2: 'WORKFLOW_EXECUTION_COMPLETED',
    3: 'WORKFLOW_EXECUTION_FAILED',
    4: 'WORKFLOW_EXECUTION_TIMED_OUT',
    9: 'WORKFLOW_TASK_FAILED',
    10: 'ACTIVITY_TASK_SCHEDULED',
    12: 'ACTIVITY_TASK_COMPLETED',
    13: 'ACTIVITY_TASK_FAILED',
    14: 'ACTIVITY_TASK_TIMED_OUT',
    17: 'TIMER_STARTED',
    18: 'TIMER_FIRED',
    26: 'WORKFLOW_EXECUTION_SIGNALED',
    27: 'WORKFLOW_EXECUTION_TERMINATED',
    28: 'WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
    41: 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED',
    43: 'WORKFLOW_EXECUTION_UPDATE_COMPLETED',
  };
  return names[n] ?? `EVENT_${n}`;
}

export async function runTimelineCommand(args: string[], env: SreEnv): Promise<number> {
  const id = args.find((a) => !a.startsWith('--'));
  if (!id || id === 'help') {
    info(TIMELINE_USAGE);
    if (!id) throw new SreCommandError('timeline', 'missing kernel id', 'e.g. quire timeline k-123');
    return 0;
  }
  const entries = await buildTimeline(env, kernelIdOfWorkflow(id), {
    kafka: !args.includes('--no-kafka'),
    temporal: !args.includes('--no-temporal'),
  });
  if (entries.length === 0)
    throw new SreCommandError(
      'timeline',
      `nothing is known about kernel ${id}`,
      'check the id with `quire kernels ls --all`',
    );
  if (args.includes('--json')) info(JSON.stringify(entries, null, 2));
  else
    for (const e of entries)
      info(
        `${e.at}  ${e.source === 'kafka' ? 'kafka   ' : 'temporal'}  ${e.what}${e.detail ? `  ${e.detail}` : ''}  ${dim(e.ref)}`,
      );
  return 0;
}
