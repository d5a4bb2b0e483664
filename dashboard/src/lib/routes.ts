// The dashboard's routes: `/`, `/audit/:repo` (the report's `dashboard_link`, `?action=...`),
// `/history` and `/actions` (the operator's action log and trash).

/** What the page shows. */
export type Route =
  | { kind: 'overview' }
  | { kind: 'repo'; name: string; action: string | null }
  | { kind: 'history' }
  | { kind: 'actions' }
  | { kind: 'not-found' };

/** Reads the route from a path and query. */
export function parseRoute(pathname: string, search: URLSearchParams): Route {
  if (pathname === '/' || pathname === '' || pathname === '/index.html') return { kind: 'overview' };
  if (pathname === '/history' || pathname === '/history/') return { kind: 'history' };
  if (pathname === '/actions' || pathname === '/actions/') return { kind: 'actions' };
  const match = /^\/audit\/(.+?)\/?$/.exec(pathname);
  if (match?.[1]) {
    let name: string;
    try {
      name = decodeURIComponent(match[1]);
    } catch {
      return { kind: 'not-found' };
    }
    return { kind: 'repo', name, action: search.get('action') };
  }
  return { kind: 'not-found' };
}

/** The in-app link for a repository: its `dashboard_link` when it is one of ours, else `/audit/<name>`. */
export function repoHref(name: string, dashboardLink: string | undefined): string {
  if (dashboardLink && dashboardLink.startsWith('/audit/')) return dashboardLink;
  return `/audit/${encodeURIComponent(name)}`;
}
