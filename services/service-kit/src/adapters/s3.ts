import { S3Client } from '@aws-sdk/client-s3';

/** Any S3: endpoint and static keys are optional, so AWS's default credential chain works in a cluster. */
export function createS3Client(cfg: {
  QUIRE_S3_ENDPOINT?: string | undefined;
  QUIRE_S3_REGION: string;
  QUIRE_S3_ACCESS_KEY_ID?: string | undefined;
  QUIRE_S3_SECRET_ACCESS_KEY?: string | undefined;
  QUIRE_S3_FORCE_PATH_STYLE: boolean;
}): S3Client {
  return new S3Client({
    region: cfg.QUIRE_S3_REGION,
    forcePathStyle: cfg.QUIRE_S3_FORCE_PATH_STYLE,
    ...(cfg.QUIRE_S3_ENDPOINT ? { endpoint: cfg.QUIRE_S3_ENDPOINT } : {}),
    ...(cfg.QUIRE_S3_ACCESS_KEY_ID && cfg.QUIRE_S3_SECRET_ACCESS_KEY
      ? {
          credentials: {
            accessKeyId: cfg.QUIRE_S3_ACCESS_KEY_ID,
            secretAccessKey: cfg.QUIRE_S3_SECRET_ACCESS_KEY,
          },
        }
      : {}),
    // Not every S3-compatible server accepts the SDK's default CRC32 checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
