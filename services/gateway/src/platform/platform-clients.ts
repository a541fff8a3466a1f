import { ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { LifecycleTier } from '@quire/contracts';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  createPostgresPool,
  createS3Client,
  createServiceKafka,
  Readiness,
  runMigrations,
  SERVICE_LOGGER,
  type JsonLogger,
} from '@quire/service-kit';
import { Connection } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config';

/**
 * The gateway's connections to the platform (PostgreSQL, Kafka, S3, Temporal),
 * each one a readiness check. Migrations of the gateway schema run at start.
 */
@Injectable()
export class PlatformClients implements OnModuleInit, OnApplicationShutdown {
  readonly pg: Pool;
  readonly s3: S3Client;
  private readonly kafkaAdmin: Admin;
  private temporal?: Connection;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly cfg: GatewayConfig,
    @Inject(Readiness) private readonly readiness: Readiness,
    @Inject(SERVICE_LOGGER) private readonly logger: JsonLogger,
  ) {
    this.pg = createPostgresPool(cfg, 'quire-gateway');
    this.s3 = createS3Client(cfg);
    this.kafkaAdmin = createServiceKafka(cfg, `gateway-${cfg.QUIRE_INSTANCE_ID}`).admin();
  }

  async onModuleInit(): Promise<void> {
    const result = await runMigrations(this.pg, {
      schema: 'gateway',
      dir: join(__dirname, '..', '..', 'migrations'),
    });
    this.logger.info('migrations done', { applied: result.applied, upToDate: result.skipped.length });
    await this.kafkaAdmin.connect();
    this.readiness.register('postgres', async () => {
      await this.pg.query('SELECT 1');
    });
    this.readiness.register('kafka', async () => {
      await this.kafkaAdmin.describeCluster();
    });
    this.readiness.register('s3', async () => {
      await this.s3.send(new ListBucketsCommand({}));
    });
    this.readiness.register('temporal', async () => {
      this.temporal ??= await Connection.connect({
        address: this.cfg.QUIRE_TEMPORAL_ADDRESS,
        connectTimeout: 2000,
      });
      await this.temporal.workflowService.getSystemInfo({});
    });
  }

  /** The org's plan, which sets its kernels' idle and hibernation timers. */
  async tierOf(orgId: string): Promise<LifecycleTier> {
    const r = await this.pg.query<{ tier: LifecycleTier }>('SELECT tier FROM gateway.orgs WHERE id = $1', [
      orgId,
    ]);
    return r.rows[0]?.tier ?? 'free';
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.pg.end(), this.kafkaAdmin.disconnect(), this.temporal?.close()]);
    this.s3.destroy();
  }
}
