/**
 * Where kernel snapshots live in the snapshots bucket (QUIRE_SNAPSHOT_BUCKET).
 * The host worker writes and reads them (checkpoint, restore on any host); the
 * lifecycle's snapshot janitor deletes superseded and evicted ones, without a
 * host (the kernel may have none any more). Both use this layout:
 * `snapshots/<kernelId>/<snapshotId>/<file>`.
 */
export const SNAPSHOT_OBJECT_KEYS = {
  /** Every snapshot of one kernel. */
  kernelPrefix: (kernelId: string) => `snapshots/${kernelId}/`,
  /** One snapshot's files. */
  snapshotPrefix: (kernelId: string, snapshotId: string) => `snapshots/${kernelId}/${snapshotId}/`,
  /** The snapshot id of an object key under `kernelPrefix(kernelId)`, or null for a key outside it. */
  snapshotIdOf(kernelId: string, key: string): string | null {
    const prefix = SNAPSHOT_OBJECT_KEYS.kernelPrefix(kernelId);
    if (!key.startsWith(prefix)) return null;
    return key.slice(prefix.length).split('/')[0] || null;
  },
} as const;
