import type { OrgInvitePreview } from '@quire/contracts';
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/gateway-client';
import { saveSession, type StoredSession } from '../api/auth-store';
import { CredentialFields, type Credentials } from './credential-fields';

/**
 * Where an org invite link (/join/:token) lands. New people create their
 * account straight into the inviting org; people with an account sign in (or
 * are signed in already) and join it, and their session moves to that org.
 */
export function JoinOrgPage({
  token,
  session,
  onJoined,
  onSignOut,
}: {
  token: string;
  session: StoredSession | null;
  onJoined: (s: StoredSession) => void;
  onSignOut: () => void;
}) {
  const [mode, setMode] = useState<'signup' | 'login'>('signup');
  const [creds, setCreds] = useState<Credentials>({ name: '', email: '', password: '' });
  const { name, email, password } = creds;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [preview, setPreview] = useState<OrgInvitePreview | null>(null);
  const [invalid, setInvalid] = useState<string | null>(null);

  useEffect(() => {
    api.orgInvitePreview(token).then(
      (p) => {
        setPreview(p);
        if (p.email) setCreds((c) => (c.email ? c : { ...c, email: p.email! }));
      },
      (e: Error) => setInvalid(e.message),
    );
  }, [token]);

  async function attempt(fn: () => Promise<StoredSession>) {
    setBusy(true);
    setError(null);
    try {
      onJoined(await fn());
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const acceptAsSignedIn = async () => saveSession(await api.acceptOrgInvite(token));

  function submit(e: FormEvent) {
    e.preventDefault();
    void attempt(async () => {
      if (mode === 'signup') return saveSession(await api.signup({ email, name, password, invite: token }));
      saveSession(await api.login({ email, password }));
      return acceptAsSignedIn();
    });
  }

  const orgName = preview?.orgName ?? 'an organisation';
  const invitation = preview && (
    <p className="muted">
      {preview.invitedBy} invited you to <strong>{preview.orgName}</strong> as{' '}
      {preview.role === 'admin' ? 'an admin' : 'a member'}
      {preview.email ? (
        <>
          {' '}
          (for <strong>{preview.email}</strong>)
        </>
      ) : null}
      . Its shared notebooks appear in your list.
    </p>
  );

  if (invalid) {
    return (
      <main className="login">
        <section className="card login-card join-card" aria-labelledby="join-title">
          <div className="brand big">Quire</div>
          <h1 id="join-title">This invitation does not work</h1>
          <p className="error-text" role="alert">
            {invalid}
          </p>
          <a href="/">Go to Quire</a>
        </section>
      </main>
    );
  }

  if (session) {
    return (
      <main className="login">
        <section className="card login-card join-card" aria-labelledby="join-title">
          <div className="brand big">Quire</div>
          <h1 id="join-title">Join {orgName}</h1>
          {invitation}
          <p>
            You are signed in as <strong>{session.user.name}</strong>{' '}
            <span className="muted">({session.user.email})</span>.
          </p>
          {error && (
            <p className="error-text" role="alert">
              {error}
            </p>
          )}
          <button
            type="button"
            className="primary"
            disabled={busy}
            onClick={() => void attempt(acceptAsSignedIn)}
          >
            {busy ? 'Joining…' : `Join as ${session.user.name}`}
          </button>
          <button type="button" className="link" onClick={onSignOut}>
            Use another account
          </button>
        </section>
      </main>
    );
  }

  return (
    <main className="login">
      <form className="card login-card join-card" onSubmit={submit} aria-labelledby="join-title">
        <div className="brand big">Quire</div>
        <h1 id="join-title">
          {mode === 'signup' ? `Join ${orgName} on Quire` : `Sign in to join ${orgName}`}
        </h1>
        {invitation}
        <CredentialFields mode={mode} value={creds} onChange={setCreds} />
        {error && (
          <p className="error-text" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'One moment…' : mode === 'signup' ? 'Create account and join' : 'Sign in and join'}
        </button>
        <button
          type="button"
          className="link"
          onClick={() => setMode(mode === 'signup' ? 'login' : 'signup')}
        >
          {mode === 'signup' ? 'Have an account? Sign in to join' : 'New here? Create an account'}
        </button>
      </form>
    </main>
  );
}
