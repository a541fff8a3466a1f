import * as Y from 'yjs';
import { closeCodeFor } from '../src/errors';
import { DocumentLimits } from '../src/extensions/document-limits';
import { DocumentSession } from '../src/server/document-session';

function updateOf(text: string): Uint8Array {
  const d = new Y.Doc();
  d.getText('t').insert(0, text);
  return Y.encodeStateAsUpdate(d);
}

describe('beforeChange: document size limit', () => {
  it('lets a document grow up to the limit and refuses the update that would cross it (4413)', () => {
    const limits = new DocumentLimits(10_000);
    const s = new DocumentSession('nb-1');
    const small = updateOf('a'.repeat(4_000));
    limits.beforeChange({ session: s, update: small, connection: undefined });
    Y.applyUpdate(s.doc, small);
    s.approxBytes += small.byteLength;
    const big = updateOf('b'.repeat(7_000));
    let err: unknown;
    try {
      limits.beforeChange({ session: s, update: big, connection: undefined });
    } catch (e) {
      err = e;
    }
    expect(closeCodeFor(err)).toBe(4413);
    expect((err as Error).message).toMatch(/limit; the change was not applied$/);
    s.destroy();
  });

  it('recounts exactly when the running estimate is pessimistic', () => {
    const limits = new DocumentLimits(10_000);
    const s = new DocumentSession('nb-1');
    Y.applyUpdate(s.doc, updateOf('x'.repeat(1_000)));
    s.approxBytes = 9_900; // e.g. after many small overlapping updates
    expect(() =>
      limits.beforeChange({ session: s, update: updateOf('y'.repeat(500)), connection: undefined }),
    ).not.toThrow();
    expect(s.approxBytes).toBeLessThan(2_000);
    s.destroy();
  });
});
