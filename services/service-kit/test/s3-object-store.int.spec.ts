import { randomBytes, createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client } from '../src/adapters/s3';
import { platformVar } from '../src/testing';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('S3-compatible object store through @aws-sdk/client-s3', () => {
  let s3: S3Client;
  const bucket = 'quire-outputs';
  const prefix = `it/${Date.now().toString(36)}-${process.pid}`;

  beforeAll(() => {
    s3 = createS3Client({
      QUIRE_S3_ENDPOINT: platformVar('QUIRE_S3_ENDPOINT'),
      QUIRE_S3_REGION: 'us-east-1',
      QUIRE_S3_ACCESS_KEY_ID: platformVar('QUIRE_S3_ACCESS_KEY_ID'),
      QUIRE_S3_SECRET_ACCESS_KEY: platformVar('QUIRE_S3_SECRET_ACCESS_KEY'),
      QUIRE_S3_FORCE_PATH_STYLE: true,
    });
  });

  afterAll(() => s3.destroy());

  it('puts and gets an object with its metadata', async () => {
    const body = Buffer.from('{"cells":[]}');
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${prefix}/small.json`,
        Body: body,
        ContentType: 'application/json',
        Metadata: { notebook: 'nb-1' },
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/small.json` }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).toString()).toBe('{"cells":[]}');
    expect(got.ContentType).toBe('application/json');
    expect(got.Metadata).toEqual({ notebook: 'nb-1' });
  });

  it('assembles a multipart upload (3 parts, 11 MiB) byte for byte', async () => {
    const key = `${prefix}/snapshot.img`;
    const parts = [randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024), randomBytes(1024 * 1024)];
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const etags = [];
    for (const [i, part] of parts.entries()) {
      const { ETag } = await s3.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: part }),
      );
      etags.push({ ETag, PartNumber: i + 1 });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: etags },
      }),
    );

    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(head.ContentLength).toBe(11 * 1024 * 1024);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(sha(await got.Body!.transformToByteArray())).toBe(sha(Buffer.concat(parts)));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  });

  it('an aborted multipart upload leaves no object', async () => {
    const key = `${prefix}/aborted.img`;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: 1,
        Body: randomBytes(5 * 1024 * 1024),
      }),
    );
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }));
    await expect(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).rejects.toMatchObject({
      name: 'NotFound',
    });
  });
});
