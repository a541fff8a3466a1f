import { SNAPSHOT_OBJECT_KEYS } from '../src';

describe('snapshot object keys (host worker writes, the lifecycle janitor deletes)', () => {
  it('nests a snapshot under its kernel', () => {
    const key = `${SNAPSHOT_OBJECT_KEYS.snapshotPrefix('k1', 's-9')}pages-1.img`;
    expect(key.startsWith(SNAPSHOT_OBJECT_KEYS.kernelPrefix('k1'))).toBe(true);
    expect(SNAPSHOT_OBJECT_KEYS.snapshotIdOf('k1', key)).toBe('s-9');
  });

  it('never attributes another kernel’s objects (a prefix of its id included)', () => {
    const other = `${SNAPSHOT_OBJECT_KEYS.snapshotPrefix('k10', 's-1')}x`;
    expect(SNAPSHOT_OBJECT_KEYS.snapshotIdOf('k1', other)).toBeNull();
    expect(SNAPSHOT_OBJECT_KEYS.snapshotIdOf('k1', 'snapshots/k1/')).toBeNull();
  });
});
