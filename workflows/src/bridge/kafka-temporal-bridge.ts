import {
  KERNEL_LIFECYCLE,
  kernelLifecycleWorkflowId,
  TOPICS,
  type ActivitySignal,
  type EventEnvelope,
  type HostEventSignal,
} from '@quire/contracts';
import { EventConsumer, type ConsumerLogger } from '@quire/contracts/kafka';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import type { HostLost } from '../placement/host-registry';

export type BridgeSignal =
  | { workflowId: string; signal: typeof KERNEL_LIFECYCLE.activitySignal; arg: ActivitySignal }
  | { workflowId: string; signal: typeof KERNEL_LIFECYCLE.hostEventSignal; arg: HostEventSignal };

/**
 * What a Kafka event means for a kernel's lifecycle workflow, if anything.
 * Pure, so it is tested on its own. The signal carries the event id: the
 * workflow applies each id once, so redelivery after a crash is harmless.
 */
export function signalFor(e: EventEnvelope): BridgeSignal | null {
  const d = e.data as Record<string, unknown>;
  const kernelId = typeof d.kernelId === 'string' ? d.kernelId : null;
  if (!kernelId) return null;
  const workflowId = kernelLifecycleWorkflowId(kernelId);
  const activity = (kind: ActivitySignal['kind']): BridgeSignal => ({
    workflowId,
    signal: KERNEL_LIFECYCLE.activitySignal,
    arg: { kind, eventId: e.id, at: e.time },
  });
  switch (e.type) {
    case 'quire.exec.ExecuteRequested':
      return activity('execute-requested');
    case 'quire.exec.ExecuteStarted':
      return activity('execute-started');
    case 'quire.exec.ExecuteCompleted':
      return activity('execute-completed');
    case 'quire.host.SandboxExited':
      if (d.reason === 'shutdown') return null; // the lifecycle's own terminate
      return {
        workflowId,
        signal: KERNEL_LIFECYCLE.hostEventSignal,
        arg: {
          kind: 'sandbox-exited',
          eventId: e.id,
          hostId: String(d.hostId),
          reason: String(d.reason),
          message: String(d.message ?? ''),
          ...(typeof d.peakMemoryBytes === 'number' ? { peakMemoryBytes: d.peakMemoryBytes } : {}),
          ...(typeof d.memoryLimitBytes === 'number' ? { memoryLimitBytes: d.memoryLimitBytes } : {}),
        },
      };
    case 'quire.host.SnapshotTaken':
      // Hibernation and background snapshots are the workflow's own; %checkpoint is news to it.
      if (d.trigger !== 'checkpoint-magic') return null;
      return {
        workflowId,
        signal: KERNEL_LIFECYCLE.hostEventSignal,
        arg: {
          kind: 'snapshot-taken',
          eventId: e.id,
          hostId: String(d.hostId),
          snapshotId: String(d.snapshotId),
        },
      };
    default:
      return null;
  }
}

export interface BridgeStats {
  signalled: number;
  skippedNoWorkflow: number;
  ignored: number;
  hostLostSignals: number;
}

/**
 * Kafka → Temporal: consumes host.events.v1 and exec.v1 in one consumer
 * group and signals the kernel's lifecycle workflow. The consumer commits an
 * offset only after its handler returned, i.e. after Temporal accepted the
 * signal; a crash in between redelivers, and the workflow drops the repeat by
 * event id. Kernels without a lifecycle workflow (started directly on a host)
 * are skipped.
 */
export class KafkaTemporalBridge {
  private readonly consumer: EventConsumer;
  readonly stats: BridgeStats = { signalled: 0, skippedNoWorkflow: 0, ignored: 0, hostLostSignals: 0 };

  constructor(
    kafka: Kafka,
    private readonly client: Client,
    groupId: string,
    private readonly log?: ConsumerLogger,
  ) {
    this.consumer = new EventConsumer({
      kafka,
      groupId,
      topics: [TOPICS.hostEvents.name, TOPICS.exec.name],
      fromBeginning: false,
      handler: (e) => this.onEvent(e),
      ...(log ? { logger: log } : {}),
    });
  }

  start(): Promise<void> {
    return this.consumer.start();
  }

  stop(): Promise<void> {
    return this.consumer.stop();
  }

  private async deliver(s: BridgeSignal): Promise<boolean> {
    try {
      await this.client.workflow.getHandle(s.workflowId).signal(s.signal, s.arg);
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err; // the consumer retries, then dead-letters
    }
  }

  async onEvent(e: EventEnvelope): Promise<void> {
    const s = signalFor(e);
    if (!s) {
      this.stats.ignored++;
      return;
    }
    if (await this.deliver(s)) this.stats.signalled++;
    else this.stats.skippedNoWorkflow++;
  }

  /** A host went silent: every kernel the registry places there hears about it. */
  async hostLost(lost: HostLost): Promise<void> {
    for (const kernelId of lost.kernels) {
      const delivered = await this.deliver({
        workflowId: kernelLifecycleWorkflowId(kernelId),
        signal: KERNEL_LIFECYCLE.hostEventSignal,
        arg: {
          kind: 'host-lost',
          // The same silence gets the same id from every bridge instance.
          eventId: `host-lost:${lost.hostId}:${lost.lastSeq}`,
          hostId: lost.hostId,
          message: `no heartbeat since ${new Date(lost.lastHeartbeatAt).toISOString()}`,
        },
      }).catch((err: Error) => {
        this.log?.warn('host-lost signal failed', { kernelId, error: err.message });
        return false;
      });
      if (delivered) this.stats.hostLostSignals++;
    }
  }
}
