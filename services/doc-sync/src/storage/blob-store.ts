/**
 * The tiny storage interface the ops log is written through. Two
 * implementations (S3 and a local folder) pass one conformance suite
 * (test/blob-store.conformance.int.spec.ts), so the persistence code never
 * knows which it has.
 */
export interface BlobStore {
  /** The object's bytes, or undefined when there is no such key. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Writes the whole object; visible to get/list once the promise resolves. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Every key that starts with `prefix`, sorted ascending. */
  list(prefix: string): Promise<string[]>;
  /** Removes the object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
}

/** Keys are path-like: segments of [A-Za-z0-9._:-] joined by `/`. */
export function assertKey(key: string): void {
  if (
    !/^[A-Za-z0-9._:-]+(\/[A-Za-z0-9._:-]+)*$/.test(key) ||
    key.split('/').some((s) => s === '..' || s === '.')
  ) {
    throw new Error(`bad blob key ${JSON.stringify(key)}`);
  }
}
