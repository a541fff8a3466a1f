import { createS3Client, platformVar } from '@quire/service-kit';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobStore } from '../src/storage/blob-store';
import { FsBlobStore } from '../src/storage/fs-blob-store';
import { S3BlobStore } from '../src/storage/s3-blob-store';

/** One conformance suite, run over every BlobStore implementation (S3 = the real versitygw). */
const run = `conf-${Date.now().toString(36)}`;
const CONFIGURATIONS: [string, () => { store: BlobStore; cleanup: () => void }][] = [
  [
    's3',
    () => {
      const s3 = createS3Client({
        QUIRE_S3_ENDPOINT: platformVar('QUIRE_S3_ENDPOINT'),
        QUIRE_S3_REGION: process.env.QUIRE_S3_REGION ?? 'us-east-1',
        QUIRE_S3_ACCESS_KEY_ID: platformVar('QUIRE_S3_ACCESS_KEY_ID'),
        QUIRE_S3_SECRET_ACCESS_KEY: platformVar('QUIRE_S3_SECRET_ACCESS_KEY'),
        QUIRE_S3_FORCE_PATH_STYLE: true,
      });
      return { store: new S3BlobStore(s3, 'quire-documents', `${run}/`), cleanup: () => s3.destroy() };
    },
  ],
  [
    'fs',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'doc-sync-blobs-'));
      return { store: new FsBlobStore(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
];

describe.each(CONFIGURATIONS)('BlobStore conformance: %s', (_name, make) => {
  let store: BlobStore;
  let cleanup: () => void;
  beforeAll(() => ({ store, cleanup } = make()));
  afterAll(() => cleanup());

  it('put then get returns the same bytes; a missing key is undefined, not an error', async () => {
    const bytes = new Uint8Array([0, 1, 2, 255, 254, 0]);
    await store.put('ops/nb-1/a.yops', bytes);
    expect(await store.get('ops/nb-1/a.yops')).toEqual(bytes);
    expect(await store.get('ops/nb-1/missing.yops')).toBeUndefined();
  });

  it('put replaces the whole object', async () => {
    await store.put('ops/nb-1/r.yops', new Uint8Array(1000).fill(7));
    await store.put('ops/nb-1/r.yops', new Uint8Array([9]));
    expect(await store.get('ops/nb-1/r.yops')).toEqual(new Uint8Array([9]));
  });

  it('stores an empty object and a 6 MB one', async () => {
    await store.put('ops/nb-2/empty', new Uint8Array());
    expect(await store.get('ops/nb-2/empty')).toEqual(new Uint8Array());
    const big = new Uint8Array(6 * 1024 * 1024).map((_, i) => i % 251);
    await store.put('ops/nb-2/big', big);
    expect(Buffer.compare(Buffer.from((await store.get('ops/nb-2/big'))!), Buffer.from(big))).toBe(0);
  });

  it('lists keys under a prefix, sorted, and nothing outside it', async () => {
    for (const k of [
      'ops/nb-3/000000000002-000000000001.yops',
      'ops/nb-3/000000000010-000000000003.yops',
      'ops/nb-30/x',
      'ops/nb-4/y',
    ]) {
      await store.put(k, new Uint8Array([1]));
    }
    expect(await store.list('ops/nb-3/')).toEqual([
      'ops/nb-3/000000000002-000000000001.yops',
      'ops/nb-3/000000000010-000000000003.yops',
    ]);
    expect(await store.list('ops/none/')).toEqual([]);
  });

  it('delete removes; deleting a missing key is fine; exists follows', async () => {
    await store.put('ops/nb-5/d', new Uint8Array([1]));
    expect(await store.exists('ops/nb-5/d')).toBe(true);
    await store.delete('ops/nb-5/d');
    await store.delete('ops/nb-5/d');
    expect(await store.exists('ops/nb-5/d')).toBe(false);
    expect(await store.get('ops/nb-5/d')).toBeUndefined();
  });

  it('refuses keys that could escape the store', async () => {
    await expect(store.put('../etc/passwd', new Uint8Array([1]))).rejects.toThrow(/bad blob key/);
    await expect(store.get('ops//x')).rejects.toThrow(/bad blob key/);
  });
});
