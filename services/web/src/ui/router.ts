import { useEffect, useState } from 'react';

/**
 * A tiny history router: the gateway serves index.html for every non-API path
 * (SPA fallback), so /notebooks/:id links are shareable and reloadable.
 */
export type Route =
  | { page: 'login' }
  | { page: 'list' }
  | { page: 'notebook'; notebookId: string }
  | { page: 'link'; token: string }
  | { page: 'join'; token: string }
  | { page: 'not-found'; path: string };

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'list' };
  if (parts[0] === 'login' && parts.length === 1) return { page: 'login' };
  if (parts[0] === 'notebooks' && parts.length === 2) return { page: 'notebook', notebookId: parts[1]! };
  if (parts[0] === 'links' && parts.length === 2) return { page: 'link', token: parts[1]! };
  if (parts[0] === 'join' && parts.length === 2) return { page: 'join', token: parts[1]! };
  return { page: 'not-found', path: pathname };
}

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const onPop = () => setRoute(parseRoute(location.pathname));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  return route;
}
