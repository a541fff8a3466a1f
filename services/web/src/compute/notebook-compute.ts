import { NOTEBOOK_COMPUTE_METADATA_KEY, NOTEBOOK_DOC, type NotebookCompute } from '@quire/contracts';
import type * as Y from 'yjs';
import { computeOf } from './compute-options';

export const META_MAP = NOTEBOOK_DOC.meta;

/** The notebook's compute choice, kept in its shared metadata (every collaborator sees it). */
export function readCompute(doc: Y.Doc): NotebookCompute | null {
  return computeOf(doc.getMap(META_MAP).get('metadata'));
}

export function writeCompute(doc: Y.Doc, compute: NotebookCompute): void {
  const meta = doc.getMap(META_MAP);
  doc.transact(() => {
    const current = (meta.get('metadata') as Record<string, unknown> | undefined) ?? {};
    meta.set('metadata', { ...current, [NOTEBOOK_COMPUTE_METADATA_KEY]: compute });
  });
}
