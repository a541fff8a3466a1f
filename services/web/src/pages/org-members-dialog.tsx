import type { OrgInviteResponse, OrgMembersResponse, OrgRole } from '@quire/contracts';
import { useEffect, useState } from 'react';
import { api } from '../api/gateway-client';
import { Modal } from '../ui/modal';

/**
 * The org's people, for its admins: who is a member, invite someone by email
 * with a role, and the invite link to send them (single use, 7 days). The
 * link opens the join page: they sign up (or sign in) and are in the org.
 */
export function OrgMembersDialog({ onClose }: { onClose: () => void }) {
  const [data, setData] = useState<OrgMembersResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<OrgRole>('member');
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<OrgInviteResponse | null>(null);
  const [copied, setCopied] = useState<string | null>(null);

  const load = () => api.orgMembers().then(setData, (e: Error) => setError(e.message));
  useEffect(() => void load(), []);

  async function guard(fn: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  function invite() {
    void guard(async () => {
      const inv = await api.createOrgInvite({ email: email.trim(), role });
      setCreated(inv);
      setEmail('');
      await load();
    });
  }

  async function copy(url: string) {
    try {
      await navigator.clipboard.writeText(url);
      setCopied(url);
    } catch {
      // No clipboard permission (http, old browser): the field is selected for Ctrl-C instead.
      setCopied(null);
    }
  }

  return (
    <Modal title="Members" onClose={onClose}>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {!data && !error && <p>Loading…</p>}
      {data && (
        <>
          <p className="muted members-org">
            People in <strong>{data.org.name}</strong>. Notebooks are shared with members from a notebook’s
            Share dialog.
          </p>
          <ul className="share-list members-list" aria-label="Members">
            {data.members.map((m) => (
              <li key={m.userId}>
                <span>
                  <strong>{m.name}</strong> <span className="muted">{m.email}</span>
                </span>
                <span className="muted">{m.role}</span>
              </li>
            ))}
          </ul>
          <form
            className="share-add"
            aria-label="Invite someone"
            onSubmit={(e) => {
              e.preventDefault();
              if (email.trim()) invite();
            }}
          >
            <input
              type="email"
              required
              placeholder="colleague@example.com"
              aria-label="Email of the person to invite"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
            <select aria-label="Org role" value={role} onChange={(e) => setRole(e.target.value as OrgRole)}>
              <option value="member">Member</option>
              <option value="admin">Admin</option>
            </select>
            <button type="submit" className="primary" disabled={busy}>
              Invite
            </button>
          </form>
          {created && (
            <div className="invite-created" role="status">
              <p>
                Send this link to <strong>{created.email ?? 'the person you invite'}</strong>. It works once,
                until {new Date(created.expiresAt).toLocaleDateString()}.
              </p>
              <InviteLink url={created.url} label="Invite link" copied={copied} onCopy={copy} />
            </div>
          )}
          {data.invites.length > 0 && (
            <fieldset className="share-link pending-invites">
              <legend>Pending invitations</legend>
              <ul className="share-list">
                {data.invites.map((i) => (
                  <li key={i.invite}>
                    <span>
                      <strong>{i.email ?? 'anyone with the link'}</strong>{' '}
                      <span className="muted">
                        {i.role} · until {new Date(i.expiresAt).toLocaleDateString()}
                      </span>
                    </span>
                    <span>
                      <button
                        type="button"
                        className="ghost"
                        aria-label={`${copied === i.url ? 'Copied' : 'Copy link'}: the invitation for ${i.email ?? 'anyone'}`}
                        onClick={() => void copy(i.url)}
                      >
                        {copied === i.url ? 'Copied' : 'Copy link'}
                      </button>
                      <button
                        type="button"
                        className="ghost danger"
                        aria-label={`Revoke the invitation for ${i.email ?? 'anyone'}`}
                        disabled={busy}
                        onClick={() =>
                          void guard(async () => {
                            await api.revokeOrgInvite(i.invite);
                            if (created?.invite === i.invite) setCreated(null);
                            await load();
                          })
                        }
                      >
                        Revoke
                      </button>
                    </span>
                  </li>
                ))}
              </ul>
            </fieldset>
          )}
        </>
      )}
    </Modal>
  );
}

function InviteLink({
  url,
  label,
  copied,
  onCopy,
}: {
  url: string;
  label: string;
  copied: string | null;
  onCopy: (url: string) => Promise<void>;
}) {
  return (
    <div className="link-row">
      <input readOnly value={url} aria-label={label} onFocus={(e) => e.currentTarget.select()} />
      <button type="button" onClick={() => void onCopy(url)}>
        {copied === url ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}
