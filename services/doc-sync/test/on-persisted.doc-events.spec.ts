import { DocPersisted, NotebookCreated, type EventDefinition } from '@quire/contracts';
import { DocEvents } from '../src/extensions/doc-events';

const logger = { info: jest.fn(), warn: jest.fn(), error: jest.fn() };

describe('onPersisted / onCreated: doc.v1 events', () => {
  it('publishes DocPersisted with seq and NotebookCreated, keyed by notebook, tenant = org', async () => {
    const sent: { def: EventDefinition; fields: unknown }[] = [];
    const ext = new DocEvents(
      { publish: async (def: EventDefinition, fields: unknown) => (sent.push({ def, fields }), {}) as never },
      logger,
    );
    await ext.onPersisted({ notebookId: 'nb-1', org: 'o-1', kind: 'ops', seq: 42, bytes: 900 });
    await ext.onCreated({ notebookId: 'nb-1', org: 'o-1', title: 'T', createdBy: 'u-1', importedFrom: null });
    expect(sent[0]).toEqual({
      def: DocPersisted,
      fields: {
        subject: 'nb-1',
        tenant: 'o-1',
        data: { notebookId: 'nb-1', seq: 42, kind: 'ops', bytes: 900 },
      },
    });
    expect(sent[1]!.def).toBe(NotebookCreated);
    // The schema accepts what we send (validated on produce by the real EventProducer).
    expect(DocPersisted.data.safeParse((sent[0]!.fields as { data: unknown }).data).success).toBe(true);
  });

  it('logs and swallows a publish failure (the document write already happened)', async () => {
    const ext = new DocEvents({ publish: async () => Promise.reject(new Error('broker down')) }, logger);
    await expect(
      ext.onPersisted({ notebookId: 'nb-1', org: 'o', kind: 'snapshot', seq: 1, bytes: 1 }),
    ).resolves.toBeUndefined();
    expect(logger.warn).toHaveBeenCalledWith(
      'event not published',
      expect.objectContaining({ error: 'broker down' }),
    );
  });
});
