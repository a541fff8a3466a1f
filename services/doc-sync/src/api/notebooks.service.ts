import { id as idSchema, NOTEBOOK_LIMITS, type DocTokenClaims, type NotebookVersion } from '@quire/contracts';
import { QuireError } from '@quire/service-kit';
import * as Y from 'yjs';
import { z } from 'zod';
import { DocErrors } from '../errors';
import {
  cellCount,
  emptyNotebook,
  exportIpynb,
  IpynbError,
  parseIpynb,
  replaceNotebook,
} from '../notebook/notebook-ydoc';
import type { Ipynb } from '../notebook/ipynb-schema';
import type { DocSyncRuntime } from '../runtime/doc-sync-runtime';

const createBody = z.object({
  title: z.string().min(1).max(500),
  createdBy: idSchema,
  ipynb: z.unknown().optional(),
});

function parseNotebook(json: unknown): Ipynb {
  try {
    return parseIpynb(json);
  } catch (err) {
    if (err instanceof IpynbError) throw new QuireError('validation', err.message, 'notebook.invalid_ipynb');
    throw err;
  }
}

/** A storage failure is "try again later" (503), never a 500 that looks like our bug. */
async function storage<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof QuireError) throw err;
    throw DocErrors.unavailable(
      'document storage is unavailable; nothing was changed, try again shortly',
      err,
    );
  }
}

/**
 * The internal API's logic (doc-sync-api.ts). Changes to an open document go
 * through the live Y.Doc as one Yjs update, so connected editors converge on
 * them; every import and restore first keeps the current state as a version.
 */
export class NotebooksService {
  constructor(private readonly rt: DocSyncRuntime) {}

  /** Service tokens only, for this notebook (the gateway mints one per call). */
  async authorize(header: string | undefined, notebookId: string): Promise<DocTokenClaims> {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    if (!m)
      throw DocErrors.unauthenticated('Authorization: Bearer <doc token with role service> is required');
    const claims = await this.rt.auth.verify(m[1]!);
    if (claims.role !== 'service') throw DocErrors.forbidden('the internal API takes service tokens only');
    if (claims.nb !== notebookId) throw DocErrors.forbidden('this token is for another notebook');
    return claims;
  }

  private async notebookOf(notebookId: string, claims: DocTokenClaims) {
    const nb = await storage(() => this.rt.store.getNotebook(notebookId));
    if (!nb) throw DocErrors.notFound(notebookId);
    if (nb.org !== claims.org) throw DocErrors.forbidden('this token is for another organisation');
    return nb;
  }

  async create(notebookId: string, body: unknown, claims: DocTokenClaims): Promise<NotebookVersion> {
    if (!idSchema.safeParse(notebookId).success)
      throw new QuireError('validation', 'bad notebook id', 'notebook.bad_id');
    const parsed = createBody.safeParse(body);
    if (!parsed.success) {
      throw new QuireError(
        'validation',
        parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
      );
    }
    const nb = parsed.data.ipynb === undefined ? emptyNotebook() : parseNotebook(parsed.data.ipynb);
    const doc = new Y.Doc();
    replaceNotebook(doc, nb);
    const state = Y.encodeStateAsUpdate(doc);
    const cells = cellCount(doc);
    doc.destroy();
    if (state.byteLength > NOTEBOOK_LIMITS.maxDocumentBytes) {
      throw DocErrors.tooLarge(state.byteLength, NOTEBOOK_LIMITS.maxDocumentBytes);
    }
    const version = await storage(() =>
      this.rt.store.createNotebook(
        { id: notebookId, org: claims.org, title: parsed.data.title, createdBy: parsed.data.createdBy },
        { seq: 1, reason: 'import', state, cells },
      ),
    );
    for (const ext of this.rt.server.extensions) {
      await ext.onCreated?.({
        notebookId,
        org: claims.org,
        title: parsed.data.title,
        createdBy: parsed.data.createdBy,
        importedFrom: parsed.data.ipynb === undefined ? null : 'ipynb',
      });
    }
    return version;
  }

  async getIpynb(notebookId: string, claims: DocTokenClaims): Promise<Ipynb> {
    await this.notebookOf(notebookId, claims);
    return this.rt.server.withDocument(notebookId, async (s) => exportIpynb(s.doc));
  }

  /** Replaces the content; the content before is kept as a version, the new one is a version too. */
  async putIpynb(notebookId: string, body: unknown, claims: DocTokenClaims): Promise<NotebookVersion> {
    await this.notebookOf(notebookId, claims);
    const nb = parseNotebook(body);
    return this.replace(notebookId, 'import', (doc) => replaceNotebook(doc, nb, 'import'));
  }

  async versions(notebookId: string, claims: DocTokenClaims): Promise<NotebookVersion[]> {
    await this.notebookOf(notebookId, claims);
    return storage(() => this.rt.store.listVersions(notebookId));
  }

  /** Restores a past version as a new version; the current content stays in the history. */
  async restore(notebookId: string, versionId: string, claims: DocTokenClaims): Promise<NotebookVersion> {
    await this.notebookOf(notebookId, claims);
    const state = await storage(() => this.rt.store.getSnapshotState(notebookId, versionId));
    if (!state)
      throw new QuireError(
        'not_found',
        `notebook ${notebookId} has no version ${versionId}`,
        'version.not_found',
      );
    const old = new Y.Doc();
    Y.applyUpdate(old, state);
    const nb = exportIpynb(old);
    old.destroy();
    return this.replace(notebookId, 'restore', (doc) => replaceNotebook(doc, nb, 'restore'));
  }

  private replace(
    notebookId: string,
    reason: 'import' | 'restore',
    change: (doc: Y.Doc) => void,
  ): Promise<NotebookVersion> {
    return this.rt.server.withDocument(notebookId, async (s) => {
      // Keep what is there now as a version (no-op when it is already the latest snapshot).
      await this.rt.server.store(s, 'periodic');
      this.rt.server.transact(s, change, reason);
      await this.rt.server.store(s, reason, true);
      const v = this.rt.persistence.lastVersion(notebookId);
      if (!v) throw new QuireError('internal', 'version was not recorded');
      return v;
    });
  }

  async delete(notebookId: string, claims: DocTokenClaims): Promise<void> {
    await this.notebookOf(notebookId, claims);
    if (!(await storage(() => this.rt.store.deleteNotebook(notebookId))))
      throw DocErrors.notFound(notebookId);
    await this.rt.server.evict(notebookId, 4404, 'notebook deleted');
  }
}
