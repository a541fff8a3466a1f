import { useEffect, useState } from 'react';
import { api, setUnauthorizedHandler } from './api/gateway-client';
import { clearSession, loadSession, type StoredSession } from './api/auth-store';
import { JoinOrgPage } from './pages/join-org-page';
import { LoginPage } from './pages/login-page';
import { NotebookListPage } from './pages/notebook-list-page';
import { NotebookPage } from './notebook/notebook-page';
import { navigate, useRoute } from './ui/router';

export function App() {
  const [session, setSession] = useState<StoredSession | null>(() => loadSession());
  const route = useRoute();

  useEffect(() => setUnauthorizedHandler(() => setSession(null)), []);

  // An org invite link works signed in (join with this account) and signed out (sign up or sign in, then join).
  if (route.page === 'join') {
    return (
      <JoinOrgPage
        token={route.token}
        session={session}
        onSignOut={() => {
          clearSession();
          setSession(null);
        }}
        onJoined={(s) => {
          setSession(s);
          navigate('/', true);
        }}
      />
    );
  }
  // Not signed in: remember where the user was going, and come back after login.
  if (!session) {
    return (
      <LoginPage
        onSignedIn={(s) => {
          setSession(s);
          const next = new URLSearchParams(location.search).get('next');
          if (route.page === 'login') navigate(next && next.startsWith('/') ? next : '/', true);
        }}
      />
    );
  }
  switch (route.page) {
    case 'login':
      navigate('/', true);
      return null;
    case 'list':
      return (
        <NotebookListPage
          session={session}
          onSignOut={() => {
            clearSession();
            setSession(null);
          }}
        />
      );
    case 'notebook':
      return <NotebookPage key={route.notebookId} notebookId={route.notebookId} session={session} />;
    case 'link':
      return <AcceptLink token={route.token} />;
    case 'not-found':
      return (
        <main className="page-message">
          <h1>Not found</h1>
          <p>Nothing lives at {route.path}.</p>
          <a href="/">All notebooks</a>
        </main>
      );
  }
}

function AcceptLink({ token }: { token: string }) {
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.acceptLink(token).then(
      (r) => navigate(`/notebooks/${encodeURIComponent(r.notebookId)}`, true),
      (e: Error) => setError(e.message),
    );
  }, [token]);
  return (
    <main className="page-message" role={error ? 'alert' : 'status'}>
      {error ? `This link does not work: ${error}` : 'Opening the shared notebook…'}
    </main>
  );
}
