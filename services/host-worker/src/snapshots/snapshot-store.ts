import { createReadStream, createWriteStream, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { SNAPSHOT_OBJECT_KEYS } from '@quire/contracts';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  DeleteObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/**
 * Checkpoint images in object storage, so any host can restore any kernel.
 * An image folder becomes objects `snapshots/<kernelId>/<snapshotId>/<file>`
 * (SNAPSHOT_OBJECT_KEYS, shared with the lifecycle's snapshot janitor);
 * large files go up in 32 MiB multipart parts.
 */
const PART = 32 * 1024 * 1024;

export class SnapshotStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  prefix(kernelId: string, snapshotId: string): string {
    return SNAPSHOT_OBJECT_KEYS.snapshotPrefix(kernelId, snapshotId);
  }

  location(kernelId: string, snapshotId: string): string {
    return `s3://${this.bucket}/${this.prefix(kernelId, snapshotId)}`;
  }

  async upload(kernelId: string, snapshotId: string, dir: string): Promise<number> {
    let total = 0;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const size = statSync(path).size;
      total += size;
      const Key = this.prefix(kernelId, snapshotId) + name;
      if (size <= PART) {
        await this.s3.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key,
            Body: createReadStream(path),
            ContentLength: size,
          }),
        );
        continue;
      }
      const { UploadId } = await this.s3.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key }));
      try {
        const parts = [];
        for (let offset = 0, n = 1; offset < size; offset += PART, n++) {
          const end = Math.min(size, offset + PART) - 1;
          const { ETag } = await this.s3.send(
            new UploadPartCommand({
              Bucket: this.bucket,
              Key,
              UploadId,
              PartNumber: n,
              Body: createReadStream(path, { start: offset, end }),
              ContentLength: end - offset + 1,
            }),
          );
          parts.push({ ETag, PartNumber: n });
        }
        await this.s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key,
            UploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
      } catch (err) {
        await this.s3
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }))
          .catch(() => undefined);
        throw err;
      }
    }
    return total;
  }

  async download(kernelId: string, snapshotId: string, dir: string): Promise<number> {
    mkdirSync(dir, { recursive: true });
    const prefix = this.prefix(kernelId, snapshotId);
    const listed = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!).filter(Boolean);
    if (keys.length === 0)
      throw new Error(`snapshot ${snapshotId} of kernel ${kernelId} is not in ${this.bucket}`);
    let total = 0;
    for (const Key of keys) {
      const obj = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      total += obj.ContentLength ?? 0;
      await pipeline(obj.Body as Readable, createWriteStream(join(dir, Key.slice(prefix.length))));
    }
    return total;
  }

  async delete(kernelId: string, snapshotId: string): Promise<void> {
    const listed = await this.s3.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix(kernelId, snapshotId) }),
    );
    // One by one: DeleteObjects needs a Content-MD5 that not every S3-compatible server accepts the same way.
    for (const o of listed.Contents ?? [])
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: o.Key! }));
  }
}
