import { EventProducer, createKafka, createProducer } from '@quire/contracts/kafka';
import { createPostgresPool, createS3Client, runMigrations } from '@quire/service-kit';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Producer } from 'kafkajs';
import type { Server } from 'node:http';
import { isAbsolute, join, resolve } from 'node:path';
import type { Pool } from 'pg';
import type { Registry } from 'prom-client';
import { ConnectionMetrics } from '../extensions/connection-metrics';
import type { DocSyncConfig } from '../config';
import { DocEvents } from '../extensions/doc-events';
import { DocumentLimits } from '../extensions/document-limits';
import { OriginAllowlist } from '../extensions/origin-allowlist';
import { Persistence } from '../extensions/persistence';
import { TokenAuth } from '../extensions/token-auth';
import { DocumentStore } from '../persistence/document-store';
import type { BlobStore } from '../storage/blob-store';
import { FsBlobStore } from '../storage/fs-blob-store';
import { S3BlobStore } from '../storage/s3-blob-store';
import { DocSyncServer, type ServerLogger } from '../server/doc-sync-server';
import type { Extension } from '../server/hooks';

/**
 * doc-sync's moving parts, usable with or without Nest: PostgreSQL (migrated),
 * the ops-log blob store, Kafka producer, and the WebSocket server with its
 * extensions in pipeline order.
 */
export class DocSyncRuntime {
  readonly pool: Pool;
  readonly store: DocumentStore;
  readonly auth: TokenAuth;
  readonly persistence: Persistence;
  readonly server: DocSyncServer;
  private readonly s3: S3Client | undefined;
  private readonly producer: Producer | undefined;
  private stopped = false;

  constructor(
    readonly cfg: DocSyncConfig,
    private readonly logger: ServerLogger,
    metrics?: Registry,
  ) {
    this.pool = createPostgresPool(cfg, 'quire-doc-sync');
    this.pool.on('error', (err) => logger.warn('idle PostgreSQL client error', { error: err.message }));
    let blobs: BlobStore;
    if (cfg.QUIRE_DOC_SYNC_OPS_STORE === 's3') {
      this.s3 = createS3Client(cfg);
      blobs = new S3BlobStore(this.s3, cfg.QUIRE_DOC_SYNC_BUCKET);
    } else {
      const dir =
        cfg.QUIRE_DOC_SYNC_FS_DIR ?? join(process.env.QUIRE_STATE_DIR ?? '.quire/state', 'doc-sync-ops');
      blobs = new FsBlobStore(isAbsolute(dir) ? dir : resolve(dir));
    }
    this.store = new DocumentStore(this.pool, cfg.QUIRE_DOC_SYNC_SCHEMA, blobs);
    this.auth = new TokenAuth(cfg.QUIRE_TOKEN_SIGNING_KEY);
    this.persistence = new Persistence(this.store, { opsFlushMs: cfg.QUIRE_DOC_SYNC_OPS_FLUSH_MS, logger });
    const extensions: Extension[] = [
      new OriginAllowlist(cfg.QUIRE_ALLOWED_ORIGINS),
      this.auth,
      new DocumentLimits(),
      this.persistence,
    ];
    if (metrics) extensions.push(new ConnectionMetrics(metrics));
    if (cfg.QUIRE_DOC_SYNC_PUBLISH) {
      const kafka = createKafka({
        brokers: cfg.QUIRE_KAFKA_BROKERS,
        clientId: `doc-sync-${cfg.QUIRE_INSTANCE_ID}`,
        ssl: cfg.QUIRE_KAFKA_SSL,
      });
      this.producer = createProducer(kafka);
      extensions.push(
        new DocEvents(new EventProducer(this.producer, 'doc-sync', cfg.QUIRE_INSTANCE_ID), logger),
      );
    }
    this.server = new DocSyncServer({
      extensions,
      maxFrameBytes: cfg.QUIRE_DOC_SYNC_MAX_FRAME_BYTES,
      snapshotIntervalMs: cfg.QUIRE_DOC_SYNC_SNAPSHOT_MS,
      logger,
    });
    this.persistence.emit = (ctx) => this.server.notifyPersisted(ctx);
  }

  async start(http: Server): Promise<void> {
    await runMigrations(this.pool, {
      schema: this.cfg.QUIRE_DOC_SYNC_SCHEMA,
      dir: join(__dirname, '..', '..', 'migrations'),
    });
    if (this.producer) void this.connectProducer(this.producer);
    this.server.attach(http);
  }

  /**
   * Events are best effort (documents never wait for Kafka): start without a
   * broker and keep trying in the background until one answers.
   */
  private async connectProducer(producer: Producer): Promise<void> {
    while (!this.stopped) {
      try {
        await producer.connect();
        return;
      } catch (err) {
        this.logger.warn('Kafka producer not connected yet; doc.v1 events wait', {
          error: (err as Error).message,
        });
        await new Promise((r) => setTimeout(r, 5_000).unref());
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.server.shutdown();
    await this.producer?.disconnect().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
    this.s3?.destroy();
  }
}
