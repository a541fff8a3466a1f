import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { NotebookDocs } from './docs/notebook-docs';
import { ExecEvents } from './events/exec-events';
import { KernelSessions } from './kernels/kernel-sessions';

/**
 * Orderly stop: exec.v1 events already queued are sent, document
 * connections closed. Kernels keep running (they belong to the lifecycle
 * workflow, not to this gateway process).
 */
@Injectable()
export class GatewayShutdown implements OnApplicationShutdown {
  constructor(
    @Inject(ExecEvents) private readonly events: ExecEvents,
    @Inject(NotebookDocs) private readonly docs: NotebookDocs,
    @Inject(KernelSessions) private readonly sessions: KernelSessions,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    this.sessions.close();
    await Promise.race([this.events.flush(), new Promise((r) => setTimeout(r, 5000))]);
    this.docs.closeAll();
  }
}
