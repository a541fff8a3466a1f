import { S3Client } from '@aws-sdk/client-s3';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createS3Client, Readiness, SERVICE_LOGGER, type JsonLogger } from '@quire/service-kit';
import { BILLING_CONFIG, type BillingConfig } from '../config';
import { Exports } from '../export/exports';
import { Rebuilds } from '../rebuild/rebuild';
import { BillingRuntime } from './billing-runtime';

/** Billing inside Nest: the runtime for the configured role, plus exports and rebuilds for the API. */
@Injectable()
export class RuntimeHost implements OnModuleInit, OnApplicationShutdown {
  readonly runtime: BillingRuntime;
  readonly s3: S3Client;
  readonly exports: Exports;
  readonly rebuilds: Rebuilds;

  constructor(
    @Inject(BILLING_CONFIG) readonly cfg: BillingConfig,
    @Inject(Readiness) private readonly readiness: Readiness,
    @Inject(SERVICE_LOGGER) private readonly logger: JsonLogger,
  ) {
    const worker = cfg.QUIRE_BILLING_ROLE !== 'api';
    this.runtime = new BillingRuntime(
      cfg,
      { consume: worker, meter: worker, publish: cfg.QUIRE_BILLING_PUBLISH, deadLetter: true },
      logger,
    );
    this.s3 = createS3Client(cfg);
    this.exports = new Exports(
      this.runtime.pool,
      this.runtime.tables,
      this.runtime.prices,
      this.s3,
      cfg.QUIRE_BILLING_EXPORT_BUCKET,
    );
    this.rebuilds = new Rebuilds(cfg, this.runtime, logger);
  }

  async onModuleInit(): Promise<void> {
    await this.runtime.start();
    this.logger.info('billing runtime started', {
      role: this.cfg.QUIRE_BILLING_ROLE,
      schema: this.runtime.tables.schema,
    });
    this.readiness.register('postgres', async () => {
      await this.runtime.pool.query('SELECT 1');
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
    this.s3.destroy();
  }
}
