import type { AuthResponse, OrgDto, UserDto } from '@quire/contracts';

/**
 * The signed-in session, kept in localStorage so a reload (or a second tab)
 * stays signed in. The token is a bearer token for the gateway's API.
 */
export interface StoredSession {
  token: string;
  expiresAt: string;
  user: UserDto;
  org: OrgDto;
}

const KEY = 'quire.session';

export function loadSession(): StoredSession | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as StoredSession;
    if (!s.token || Date.parse(s.expiresAt) <= Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

export function saveSession(auth: AuthResponse): StoredSession {
  const s: StoredSession = { token: auth.token, expiresAt: auth.expiresAt, user: auth.user, org: auth.org };
  localStorage.setItem(KEY, JSON.stringify(s));
  return s;
}

export function clearSession(): void {
  localStorage.removeItem(KEY);
}
