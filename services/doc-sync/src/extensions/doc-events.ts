import { DocPersisted, NotebookCreated } from '@quire/contracts';
import type { EventProducer } from '@quire/contracts/kafka';
import type { ServerLogger } from '../server/doc-sync-server';
import type { CreatedContext, Extension, PersistedContext } from '../server/hooks';

/**
 * onCreated / onPersisted → doc.v1 (doc-sync owns it): NotebookCreated and
 * DocPersisted{seq}. Events describe state that is already durable, so a
 * publish failure is logged and never undoes or blocks a document write.
 */
export class DocEvents implements Extension {
  readonly name = 'doc-events';

  constructor(
    private readonly producer: Pick<EventProducer, 'publish'>,
    private readonly logger: ServerLogger,
  ) {}

  async onCreated(ctx: CreatedContext): Promise<void> {
    await this.producer
      .publish(NotebookCreated, {
        subject: ctx.notebookId,
        tenant: ctx.org,
        data: {
          notebookId: ctx.notebookId,
          title: ctx.title,
          createdBy: ctx.createdBy,
          importedFrom: ctx.importedFrom,
        },
      })
      .catch((err) => this.failed('NotebookCreated', ctx.notebookId, err));
  }

  async onPersisted(ctx: PersistedContext): Promise<void> {
    await this.producer
      .publish(DocPersisted, {
        subject: ctx.notebookId,
        tenant: ctx.org,
        data: { notebookId: ctx.notebookId, seq: ctx.seq, kind: ctx.kind, bytes: ctx.bytes },
      })
      .catch((err) => this.failed('DocPersisted', ctx.notebookId, err));
  }

  private failed(type: string, notebookId: string, err: unknown): void {
    this.logger.warn('event not published', { type, notebookId, error: (err as Error).message });
  }
}
