import { useState, type FormEvent } from 'react';
import { api } from '../api/gateway-client';
import { saveSession, type StoredSession } from '../api/auth-store';
import { CredentialFields, type Credentials } from './credential-fields';

/** Sign in, or create an account (and an org) the first time. */
export function LoginPage({ onSignedIn }: { onSignedIn: (s: StoredSession) => void }) {
  const [mode, setMode] = useState<'login' | 'signup'>('login');
  const [orgName, setOrgName] = useState('');
  const [creds, setCreds] = useState<Credentials>({ name: '', email: '', password: '' });
  const { name, email, password } = creds;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const auth =
        mode === 'login'
          ? await api.login({ email, password })
          : await api.signup({
              email,
              password,
              name,
              ...(orgName.trim() ? { orgName: orgName.trim() } : {}),
            });
      onSignedIn(saveSession(auth));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <form className="card login-card" onSubmit={submit} aria-labelledby="login-title">
        <div className="brand big">Quire</div>
        <h1 id="login-title">{mode === 'login' ? 'Sign in' : 'Create your account'}</h1>
        <CredentialFields mode={mode} value={creds} onChange={setCreds} />
        {mode === 'signup' && (
          <label>
            Organisation <span className="muted">(optional)</span>
            <input name="org" value={orgName} onChange={(e) => setOrgName(e.target.value)} />
          </label>
        )}
        {error && (
          <p className="error-text" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'One moment…' : mode === 'login' ? 'Sign in' : 'Create account'}
        </button>
        <button type="button" className="link" onClick={() => setMode(mode === 'login' ? 'signup' : 'login')}>
          {mode === 'login' ? 'New here? Create an account' : 'Have an account? Sign in'}
        </button>
      </form>
    </main>
  );
}
