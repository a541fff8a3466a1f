import { NOTEBOOK_LIMITS } from '@quire/contracts';
import * as Y from 'yjs';
import { DocErrors } from '../errors';
import type { BeforeChangeContext, Extension } from '../server/hooks';

/**
 * beforeChange: a document never grows past 50 MB (encoded Y.Doc state).
 * Counting exactly on every keystroke would re-encode the document each time,
 * so the session keeps an upper bound (last exact size + every update since)
 * and recounts exactly only when that bound crosses the limit.
 */
export class DocumentLimits implements Extension {
  readonly name = 'document-limits';

  constructor(private readonly maxBytes: number = NOTEBOOK_LIMITS.maxDocumentBytes) {}

  beforeChange({ session, update }: BeforeChangeContext): void {
    if (session.approxBytes + update.byteLength <= this.maxBytes) return;
    session.approxBytes = Y.encodeStateAsUpdate(session.doc).byteLength;
    const after = session.approxBytes + update.byteLength;
    if (after > this.maxBytes) throw DocErrors.tooLarge(after, this.maxBytes);
  }
}
