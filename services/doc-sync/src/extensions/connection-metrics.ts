import { Counter, Gauge, type Registry } from 'prom-client';
import type { DisconnectContext, Extension, LoadContext, PersistedContext } from '../server/hooks';

/**
 * onLoad / onJoin / onDisconnect / onUnload / onPersisted → Prometheus (/metrics):
 * open documents, connected clients, disconnects by close code, persisted
 * bytes by kind. Nothing here can refuse or delay anything.
 */
export class ConnectionMetrics implements Extension {
  readonly name = 'connection-metrics';
  private readonly openDocs: Gauge;
  private readonly clients: Gauge;
  private readonly disconnects: Counter;
  private readonly persisted: Counter;
  private open = 0;

  constructor(registry: Registry) {
    this.openDocs = new Gauge({
      name: 'quire_doc_sync_open_documents',
      help: 'Documents in memory',
      registers: [registry],
    });
    this.clients = new Gauge({
      name: 'quire_doc_sync_connections',
      help: 'Connected WebSocket clients',
      registers: [registry],
    });
    this.disconnects = new Counter({
      name: 'quire_doc_sync_disconnects_total',
      help: 'Clients that left',
      labelNames: ['role'],
      registers: [registry],
    });
    this.persisted = new Counter({
      name: 'quire_doc_sync_persisted_bytes_total',
      help: 'Bytes made durable',
      labelNames: ['kind'],
      registers: [registry],
    });
  }

  onLoad(): Promise<void> {
    this.openDocs.set(++this.open);
    return Promise.resolve();
  }

  onUnload(_ctx: LoadContext): void {
    this.openDocs.set(Math.max(0, --this.open));
  }

  onJoin(): void {
    this.clients.inc();
  }

  onDisconnect({ connection }: DisconnectContext): void {
    this.clients.dec();
    this.disconnects.inc({ role: connection.identity?.role ?? 'unknown' });
  }

  onPersisted(ctx: PersistedContext): void {
    this.persisted.inc({ kind: ctx.kind }, ctx.bytes);
  }
}
