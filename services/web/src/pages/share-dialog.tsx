import type { LinkAccess, SharesResponse } from '@quire/contracts';
import { useEffect, useState } from 'react';
import { api } from '../api/gateway-client';
import { Modal } from '../ui/modal';

type ShareRole = 'editor' | 'runner' | 'viewer';

/** Who may open the notebook, with which role, and the view/edit link. */
export function ShareDialog({ notebookId, onClose }: { notebookId: string; onClose: () => void }) {
  const [data, setData] = useState<SharesResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<ShareRole>('editor');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.shares(notebookId).then(setData, (e: Error) => setError(e.message));
  }, [notebookId]);

  async function save(shares: { email: string; role: ShareRole }[], link: LinkAccess) {
    setBusy(true);
    setError(null);
    try {
      setData(await api.putShares(notebookId, { shares, link }));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const current = (data?.shares ?? [])
    .filter((s) => s.role !== 'owner')
    .map((s) => ({ email: s.email, role: s.role as ShareRole }));
  const linkUrl = data?.link.url ? new URL(data.link.url, location.origin).toString() : null;

  return (
    <Modal title="Share notebook" onClose={onClose}>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {!data && !error && <p>Loading…</p>}
      {data && (
        <>
          <ul className="share-list">
            {data.shares.map((s) => (
              <li key={s.userId}>
                <span>
                  <strong>{s.name}</strong> <span className="muted">{s.email}</span>
                </span>
                {s.role === 'owner' ? (
                  <span className="muted">owner</span>
                ) : (
                  <span>
                    <select
                      aria-label={`Role of ${s.name}`}
                      value={s.role}
                      disabled={busy}
                      onChange={(e) =>
                        void save(
                          current.map((c) =>
                            c.email === s.email ? { ...c, role: e.target.value as ShareRole } : c,
                          ),
                          data.link.access,
                        )
                      }
                    >
                      <option value="editor">can edit</option>
                      <option value="runner">can run</option>
                      <option value="viewer">can view</option>
                    </select>
                    <button
                      type="button"
                      className="ghost"
                      aria-label={`Remove ${s.name}`}
                      disabled={busy}
                      onClick={() =>
                        void save(
                          current.filter((c) => c.email !== s.email),
                          data.link.access,
                        )
                      }
                    >
                      ✕
                    </button>
                  </span>
                )}
              </li>
            ))}
          </ul>
          <form
            className="share-add"
            onSubmit={(e) => {
              e.preventDefault();
              if (email.trim())
                void save([...current, { email: email.trim(), role }], data.link.access).then(() =>
                  setEmail(''),
                );
            }}
          >
            <input
              type="email"
              placeholder="colleague@example.com"
              aria-label="Email of the person to add"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
            <select aria-label="Role" value={role} onChange={(e) => setRole(e.target.value as ShareRole)}>
              <option value="editor">can edit</option>
              <option value="runner">can run</option>
              <option value="viewer">can view</option>
            </select>
            <button type="submit" className="primary" disabled={busy}>
              Add
            </button>
          </form>
          <fieldset className="share-link">
            <legend>Link sharing</legend>
            <select
              aria-label="Link access"
              value={data.link.access}
              disabled={busy}
              onChange={(e) => void save(current, e.target.value as LinkAccess)}
            >
              <option value="none">Off</option>
              <option value="view">Anyone in the org with the link can view</option>
              <option value="edit">Anyone in the org with the link can edit</option>
            </select>
            {linkUrl && (
              <div className="link-row">
                <input
                  readOnly
                  value={linkUrl}
                  aria-label="Share link"
                  onFocus={(e) => e.currentTarget.select()}
                />
                <button type="button" onClick={() => void navigator.clipboard?.writeText(linkUrl)}>
                  Copy
                </button>
              </div>
            )}
          </fieldset>
        </>
      )}
    </Modal>
  );
}
