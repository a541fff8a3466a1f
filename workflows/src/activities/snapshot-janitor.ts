import { SNAPSHOT_OBJECT_KEYS } from '@quire/contracts';
import { DeleteObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

/**
 * Deletes kernel snapshots from object storage (eviction, superseded
 * snapshots, images of retried checkpoints), in the key layout the host
 * worker writes (SNAPSHOT_OBJECT_KEYS in contracts).
 */
export class SnapshotJanitor {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  /** Snapshot ids of a kernel present in the bucket. */
  async list(kernelId: string): Promise<string[]> {
    const prefix = SNAPSHOT_OBJECT_KEYS.kernelPrefix(kernelId);
    const ids = new Set<string>();
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        const id = o.Key ? SNAPSHOT_OBJECT_KEYS.snapshotIdOf(kernelId, o.Key) : null;
        if (id) ids.add(id);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return [...ids];
  }

  /** Deletes every snapshot of the kernel except `keep`; returns how many objects went. */
  async deleteAllBut(kernelId: string, keep: string | null): Promise<number> {
    const prefix = SNAPSHOT_OBJECT_KEYS.kernelPrefix(kernelId);
    let deleted = 0;
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        if (keep !== null && SNAPSHOT_OBJECT_KEYS.snapshotIdOf(kernelId, o.Key!) === keep) continue;
        // One by one: DeleteObjects needs a Content-MD5 not every S3-compatible server handles alike.
        await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: o.Key! }));
        deleted++;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return deleted;
  }
}
