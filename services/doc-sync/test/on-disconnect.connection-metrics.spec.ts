import { Registry } from 'prom-client';
import { ConnectionMetrics } from '../src/extensions/connection-metrics';
import type { Connection } from '../src/server/connection';
import type { DocumentSession } from '../src/server/document-session';

describe('onJoin / onDisconnect / onPersisted: connection metrics', () => {
  it('counts clients in and out by role, open documents and persisted bytes', async () => {
    const registry = new Registry();
    const m = new ConnectionMetrics(registry);
    const session = {} as DocumentSession;
    const conn = (role: string) => ({ identity: { role } }) as unknown as Connection;
    await m.onLoad();
    m.onJoin();
    m.onJoin();
    m.onDisconnect({ session, connection: conn('viewer') });
    m.onPersisted({ notebookId: 'nb', org: 'o', kind: 'ops', seq: 3, bytes: 120 });
    const text = await registry.metrics();
    expect(text).toContain('quire_doc_sync_open_documents 1');
    expect(text).toContain('quire_doc_sync_connections 1');
    expect(text).toContain('quire_doc_sync_disconnects_total{role="viewer"} 1');
    expect(text).toContain('quire_doc_sync_persisted_bytes_total{kind="ops"} 120');
    m.onUnload({ notebookId: 'nb', session });
    expect(await registry.metrics()).toContain('quire_doc_sync_open_documents 0');
  });
});
