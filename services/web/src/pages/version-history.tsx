import type { NotebookVersion } from '@quire/contracts';
import { useEffect, useState } from 'react';
import { api } from '../api/gateway-client';
import { Modal } from '../ui/modal';

const REASONS: Record<NotebookVersion['reason'], string> = {
  periodic: 'autosave',
  'last-client-left': 'everyone left',
  import: 'imported',
  restore: 'restored',
  shutdown: 'server shutdown',
};

/** Saved versions; restoring one makes it the newest version (nothing is lost). */
export function VersionHistory({
  notebookId,
  canRestore,
  onClose,
}: {
  notebookId: string;
  canRestore: boolean;
  onClose: () => void;
}) {
  const [versions, setVersions] = useState<NotebookVersion[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const load = () =>
    api.versions(notebookId).then(
      (r) => setVersions(r.versions),
      (e: Error) => setError(e.message),
    );
  useEffect(() => void load(), [notebookId]);

  async function restore(v: NotebookVersion) {
    if (
      !confirm(
        `Restore the version from ${new Date(v.createdAt).toLocaleString()}? The current one stays in the history.`,
      )
    )
      return;
    try {
      await api.restoreVersion(notebookId, v.versionId);
      setDone(`Restored the version from ${new Date(v.createdAt).toLocaleString()}.`);
      await load();
    } catch (e) {
      setError((e as Error).message);
    }
  }

  return (
    <Modal title="Version history" onClose={onClose}>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {done && <p role="status">{done}</p>}
      {!versions && !error && <p>Loading…</p>}
      {versions && versions.length === 0 && (
        <p className="muted">No saved versions yet (one is kept every minute while people edit).</p>
      )}
      {versions && versions.length > 0 && (
        <ul className="version-list">
          {[...versions]
            .sort((a, b) => b.seq - a.seq)
            .map((v) => (
              <li key={v.versionId}>
                <span>
                  <strong>{new Date(v.createdAt).toLocaleString()}</strong>{' '}
                  <span className="muted">
                    {REASONS[v.reason] ?? v.reason} · {v.cells} cells · {Math.ceil(v.bytes / 1024)} KiB
                  </span>
                </span>
                {canRestore && (
                  <button type="button" onClick={() => void restore(v)}>
                    Restore
                  </button>
                )}
              </li>
            ))}
        </ul>
      )}
    </Modal>
  );
}
