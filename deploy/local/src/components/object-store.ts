import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, HeadBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { startSupervised } from '../component-runner';
import { goInstall } from '../installers';
import type { Component, PlatformContext } from '../platform-context';

/**
 * An S3-compatible object store: Versity Gateway (versitygw) over a folder,
 * built from the Go module proxy. Services use plain @aws-sdk/client-s3, so any
 * S3 replaces it in a cluster.
 */
const MODULE = 'github.com/versity/versitygw/cmd/versitygw';

const binary = (ctx: PlatformContext) =>
  join(ctx.config.cacheDir, 'bin', `versitygw-${ctx.config.versions.versitygw}`, 'versitygw');

export function s3Client(ctx: PlatformContext): S3Client {
  return new S3Client({
    endpoint: `http://${ctx.config.bindHost}:${ctx.config.ports.s3}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ctx.creds.s3AccessKeyId, secretAccessKey: ctx.creds.s3SecretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

export const objectStore: Component = {
  name: 's3',
  title: 'S3 object store (versitygw)',
  ports: (ctx) => [ctx.config.ports.s3],
  endpoint: (ctx) => `http://${ctx.config.bindHost}:${ctx.config.ports.s3}`,

  async install(ctx) {
    await goInstall(ctx, 'S3 object store', MODULE, ctx.config.versions.versitygw, 'versitygw');
  },

  async start(ctx) {
    const dataDir = join(ctx.config.stateDir, 's3', 'data');
    // Object metadata in a sidecar folder: works on filesystems without user xattrs (overlayfs, tmpfs).
    const metaDir = join(ctx.config.stateDir, 's3', 'meta');
    mkdirSync(dataDir, { recursive: true });
    mkdirSync(metaDir, { recursive: true });
    await startSupervised(
      ctx,
      this,
      () =>
        ctx.supervisor.start(
          this.name,
          binary(ctx),
          ['--port', `${ctx.config.bindHost}:${ctx.config.ports.s3}`, 'posix', '--sidecar', metaDir, dataDir],
          {
            env: {
              ...process.env,
              ROOT_ACCESS_KEY: ctx.creds.s3AccessKeyId,
              ROOT_SECRET_KEY: ctx.creds.s3SecretAccessKey,
            },
          },
        ),
      { readyTimeoutMs: 30_000, portEnv: { [ctx.config.ports.s3]: 'QUIRE_S3_PORT' } },
    );
    const s3 = s3Client(ctx);
    try {
      await ensureBuckets(s3, ctx.config.buckets);
    } finally {
      s3.destroy();
    }
  },

  async stop(ctx) {
    await ctx.supervisor.stop(this.name);
  },

  async ready(ctx) {
    const s3 = s3Client(ctx);
    try {
      await s3.send(new ListBucketsCommand({}));
      return true;
    } catch {
      return false;
    } finally {
      s3.destroy();
    }
  },
};

/** Creates the platform's buckets where missing. Idempotent; also used by `quire init-cluster`. */
export async function ensureBuckets(s3: S3Client, buckets: readonly string[]): Promise<string[]> {
  const created: string[] = [];
  for (const bucket of buckets) {
    const exists = await s3.send(new HeadBucketCommand({ Bucket: bucket })).then(
      () => true,
      () => false,
    );
    if (!exists) {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      created.push(bucket);
    }
  }
  return created;
}
