import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { uuidv7 } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';

const OBJECT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Large outputs in S3 (bucket QUIRE_OUTPUTS_BUCKET, key
 * `notebooks/<notebookId>/<objectId>`), read back by the outputs route with
 * the notebook's access rule — the key is scoped by notebook so an object id
 * alone never opens another notebook's output.
 */
export class OutputStore {
  private bucketReady?: Promise<void>;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async put(
    notebookId: string,
    body: Buffer | Uint8Array,
    contentType: string,
  ): Promise<{ objectId: string; bytes: number }> {
    await this.ensureBucket();
    const objectId = uuidv7();
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key(notebookId, objectId),
        Body: body,
        ContentType: contentType,
        ContentLength: body.byteLength,
      }),
    );
    return { objectId, bytes: body.byteLength };
  }

  async open(
    notebookId: string,
    objectId: string,
  ): Promise<{ body: Readable; contentType: string; bytes?: number }> {
    if (!OBJECT_ID.test(objectId)) throw new QuireError('validation', 'not an output id', 'output.bad_id');
    try {
      const r = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key(notebookId, objectId) }),
      );
      return {
        body: r.Body as Readable,
        contentType: r.ContentType ?? 'application/octet-stream',
        ...(r.ContentLength !== undefined ? { bytes: r.ContentLength } : {}),
      };
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket')
        throw new QuireError('not_found', 'no such output', 'output.not_found');
      throw new QuireError('unavailable', 'output storage is not reachable', 'output.unavailable', err);
    }
  }

  private ensureBucket(): Promise<void> {
    this.bucketReady ??= (async () => {
      try {
        await this.s3.send(new HeadBucketCommand({ Bucket: this.bucket }));
      } catch {
        await this.s3
          .send(new CreateBucketCommand({ Bucket: this.bucket }))
          .catch((err: { name?: string }) => {
            if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
          });
      }
    })().catch((err: unknown) => {
      this.bucketReady = undefined;
      throw err;
    });
    return this.bucketReady;
  }
}

function key(notebookId: string, objectId: string): string {
  return `notebooks/${notebookId}/${objectId}`;
}
