import type { OrgDto } from '@quire/contracts';
import { useEffect, useId, useState } from 'react';
import { api } from '../api/gateway-client';
import { saveSession, type StoredSession } from '../api/auth-store';

/**
 * The current org in the list page's header. For someone in several orgs it
 * is a labelled select: choosing another org asks the gateway for a session
 * there (a token carries one org), saves it, and hands it to `onSwitched`.
 * With one org (or while the list is loading) it is just the org's name.
 */
export function OrgSwitcher({
  session,
  onSwitched,
}: {
  session: StoredSession;
  onSwitched: (s: StoredSession) => void;
}) {
  const [orgs, setOrgs] = useState<OrgDto[] | null>(null);
  /** The org being switched to, shown while the gateway answers. */
  const [pending, setPending] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const selectId = useId();

  useEffect(() => {
    // A failure here only costs the switcher: the header keeps the current org's name.
    api.me().then(
      (me) => setOrgs(me.orgs ?? null),
      () => setOrgs(null),
    );
  }, [session.token]);

  if (!orgs || orgs.length < 2) return <span className="muted org-name">{session.org.name}</span>;

  async function choose(orgId: string) {
    if (orgId === session.org.id) return;
    setPending(orgId);
    setError(null);
    try {
      onSwitched(saveSession(await api.switchOrg(orgId)));
    } catch (e) {
      setError(`Could not switch: ${(e as Error).message}`);
      setPending(null);
    }
  }

  return (
    <span className="org-switcher">
      <label htmlFor={selectId} className="sr-only">
        Organisation
      </label>
      <select
        id={selectId}
        value={pending ?? session.org.id}
        disabled={pending !== null}
        aria-busy={pending !== null}
        onChange={(e) => void choose(e.target.value)}
      >
        {orgs.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name}
          </option>
        ))}
      </select>
      {error && (
        <span className="error-text" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}
