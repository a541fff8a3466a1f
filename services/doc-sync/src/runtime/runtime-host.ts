import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { METRICS_REGISTRY, Readiness, SERVICE_LOGGER, type JsonLogger } from '@quire/service-kit';
import type { Registry } from 'prom-client';
import express from 'express';
import type { Server } from 'node:http';
import { DOC_SYNC_CONFIG, type DocSyncConfig } from '../config';
import { DocSyncRuntime } from './doc-sync-runtime';

/** doc-sync inside Nest: the WebSocket server shares Nest's HTTP server (upgrade event). */
@Injectable()
export class RuntimeHost implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly runtime: DocSyncRuntime;

  constructor(
    @Inject(DOC_SYNC_CONFIG) cfg: DocSyncConfig,
    @Inject(Readiness) private readonly readiness: Readiness,
    @Inject(SERVICE_LOGGER) private readonly logger: JsonLogger,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(METRICS_REGISTRY) metrics: Registry,
  ) {
    this.runtime = new DocSyncRuntime(cfg, logger, metrics);
    // .ipynb bodies may be up to the 50 MB document limit. Nest skips its own
    // 100 kB JSON parser when one named `jsonParser` is already registered,
    // which is only possible here, before the app initialises.
    const big = express.json({ limit: '60mb', type: ['application/json', 'application/x-ipynb+json'] });
    adapterHost.httpAdapter.getInstance<express.Express>().use(function jsonParser(req, res, next) {
      big(req, res, next);
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.runtime.start(this.adapterHost.httpAdapter.getHttpServer() as Server);
    this.readiness.register('postgres', async () => {
      await this.runtime.pool.query('SELECT 1');
    });
    this.logger.info('doc-sync ready', { schema: this.runtime.cfg.QUIRE_DOC_SYNC_SCHEMA });
  }

  /**
   * Before Nest closes its HTTP server: that close waits for every open
   * socket, WebSockets included, so the documents are stored and their
   * clients told to reconnect (1012) first.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.readiness.markDraining();
    await this.runtime.server.shutdown();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runtime.stop();
  }
}
