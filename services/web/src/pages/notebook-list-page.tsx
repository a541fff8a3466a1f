import type { NotebookSummary } from '@quire/contracts';
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/gateway-client';
import type { StoredSession } from '../api/auth-store';
import { exportIpynb } from '../notebook/notebook-page';
import { navigate } from '../ui/router';
import { OrgMembersDialog } from './org-members-dialog';
import { OrgSwitcher } from './org-switcher';
import { badgeStyle } from '../ui/badge-colors';

/** The org's notebooks I can open: create, rename, delete, import and export .ipynb. */
export function NotebookListPage({ session, onSignOut }: { session: StoredSession; onSignOut: () => void }) {
  const [notebooks, setNotebooks] = useState<NotebookSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [showMembers, setShowMembers] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);

  const load = () =>
    api.listNotebooks().then(
      (r) => setNotebooks([...r.notebooks].sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))),
      (e: Error) => setError(e.message),
    );
  useEffect(() => void load(), []);

  async function guard(fn: () => Promise<unknown>) {
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError((e as Error).message);
    }
  }

  async function create() {
    await guard(async () => {
      const nb = await api.createNotebook('Untitled');
      navigate(`/notebooks/${encodeURIComponent(nb.id)}`);
    });
  }

  async function importFile(file: File) {
    await guard(async () => {
      let json: unknown;
      try {
        json = JSON.parse(await file.text());
      } catch {
        throw new Error(`${file.name} is not a notebook (.ipynb is JSON; this file is not valid JSON).`);
      }
      await api.importNotebook(json, file.name.replace(/\.ipynb$/i, ''));
      await load();
    });
  }

  return (
    <div className="list-page">
      <header className="topbar">
        <span className="brand">Quire</span>
        {/* A full reload after a switch: everything held in memory (the app's session, a prefetched
            notebook session, kernel-channel tokens) belongs to the old org. */}
        <OrgSwitcher session={session} onSwitched={() => location.reload()} />
        <span className="spacer" />
        {session.org.role === 'admin' && (
          <button type="button" className="ghost" onClick={() => setShowMembers(true)}>
            Members
          </button>
        )}
        <span className="avatar" style={badgeStyle(session.user.color)} title={session.user.name}>
          {session.user.name.slice(0, 1).toUpperCase()}
        </span>
        <button type="button" className="ghost" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main className="list-main">
        <div className="list-head">
          <h1>Notebooks</h1>
          <span className="spacer" />
          <input
            ref={fileInput}
            type="file"
            accept=".ipynb,application/x-ipynb+json,application/json"
            hidden
            aria-label="Import a .ipynb file"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void importFile(f);
              e.target.value = '';
            }}
          />
          <button type="button" onClick={() => fileInput.current?.click()}>
            Import .ipynb
          </button>
          <button type="button" className="primary" onClick={() => void create()}>
            New notebook
          </button>
        </div>
        {error && (
          <p className="error-text" role="alert">
            {error}
          </p>
        )}
        {!notebooks && !error && <p className="muted">Loading…</p>}
        {notebooks && notebooks.length === 0 && (
          <p className="muted empty">No notebooks yet. Create one, or import a .ipynb file.</p>
        )}
        {notebooks && notebooks.length > 0 && (
          <table className="nb-table">
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">Your role</th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {notebooks.map((nb) => (
                <tr key={nb.id}>
                  <td>
                    {renaming === nb.id ? (
                      <input
                        autoFocus
                        aria-label="New title"
                        defaultValue={nb.title}
                        onKeyDown={(e) => {
                          if (e.key === 'Escape') setRenaming(null);
                          if (e.key === 'Enter') e.currentTarget.blur();
                        }}
                        onBlur={(e) => {
                          const t = e.currentTarget.value.trim();
                          setRenaming(null);
                          if (t && t !== nb.title)
                            void guard(async () => (await api.renameNotebook(nb.id, t), load()));
                        }}
                      />
                    ) : (
                      <a
                        href={`/notebooks/${encodeURIComponent(nb.id)}`}
                        onClick={(e) => (
                          e.preventDefault(),
                          navigate(`/notebooks/${encodeURIComponent(nb.id)}`)
                        )}
                      >
                        {nb.title}
                      </a>
                    )}
                  </td>
                  <td className="muted">{nb.role}</td>
                  <td className="muted">{new Date(nb.updatedAt).toLocaleString()}</td>
                  <td className="row-actions">
                    {(nb.role === 'owner' || nb.role === 'editor') && (
                      <button
                        type="button"
                        className="ghost"
                        onClick={() => setRenaming(nb.id)}
                        aria-label={`Rename ${nb.title}`}
                      >
                        Rename
                      </button>
                    )}
                    <button
                      type="button"
                      className="ghost"
                      onClick={() => void guard(() => exportIpynb(nb.id, nb.title))}
                      aria-label={`Export ${nb.title}`}
                    >
                      Export
                    </button>
                    {nb.role === 'owner' && (
                      <button
                        type="button"
                        className="ghost danger"
                        aria-label={`Delete ${nb.title}`}
                        onClick={() =>
                          confirm(`Delete "${nb.title}"? This cannot be undone.`) &&
                          void guard(async () => (await api.deleteNotebook(nb.id), load()))
                        }
                      >
                        Delete
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </main>
      {showMembers && <OrgMembersDialog onClose={() => setShowMembers(false)} />}
    </div>
  );
}
