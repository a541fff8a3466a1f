import 'reflect-metadata';
import type { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError } from './config';
import { ProblemJsonFilter } from './errors';
import { JsonLogger } from './logger';
import { startTelemetry, stopTelemetry } from './telemetry';

export interface BootstrapOptions {
  service: string;
  /** Loaded lazily, after telemetry has started. */
  loadModule: () => Promise<Type<unknown>>;
  port: number;
  host: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  shutdownGraceMs?: number;
}

/**
 * The one way every Quire service starts: telemetry first, then the Nest app
 * with JSON logs, problem+json errors, shutdown hooks (which drain Kafka
 * consumers), and a hard deadline on shutdown so a stuck drain cannot hang a
 * deploy.
 */
export async function bootstrapService(opts: BootstrapOptions): Promise<INestApplication> {
  startTelemetry(opts.service);
  const logger = new JsonLogger(opts.service, opts.logLevel ?? 'info');
  try {
    const module = await opts.loadModule();
    const app = await NestFactory.create(module, { logger, bufferLogs: false });
    app.useGlobalFilters(
      new ProblemJsonFilter((err) =>
        logger.error('unhandled error', { error: (err as Error)?.stack ?? String(err) }),
      ),
    );
    app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
    const grace = opts.shutdownGraceMs ?? 15_000;
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        setTimeout(() => {
          logger.error('shutdown took too long; exiting', { graceMs: grace });
          process.exit(1);
        }, grace).unref();
      });
    }
    await app.listen(opts.port, opts.host);
    logger.info('service started', { port: opts.port, host: opts.host });
    return app;
  } catch (err) {
    if (err instanceof ConfigError) logger.error(err.message, { problems: err.problems });
    else logger.error('service failed to start', { error: (err as Error).stack ?? String(err) });
    await stopTelemetry();
    process.exitCode = 1;
    throw err;
  }
}
