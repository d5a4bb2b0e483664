// The app shell: header (brand, pages, connection, update mode, notifications), server banners,
// the routed page and the toasts. Features are composed here; they do not import each other.
// `?at=<cursor>` on the dashboard's routes shows that past point read-only under a banner.
import { useEffect, useMemo, useRef } from 'react';
import { Activity } from 'lucide-react';
import { ConnectionStatus } from '../components/ConnectionStatus';
import { RealTimeToggle } from '../components/RealTimeToggle';
import { OfflineBanner } from '../components/OfflineBanner';
import { ServerBanner } from '../components/ServerBanner';
import { Link } from '../components/Link';
import { Dashboard } from '../features/dashboard/Dashboard';
import { HistoryView } from '../features/history/HistoryView';
import { PastBanner } from '../features/history/PastBanner';
import { RepoTimeline } from '../features/history/RepoTimeline';
import { usePastState } from '../features/history/usePastState';
import {
  LiveAnnouncer,
  NotificationToggle,
  Toasts,
  useStatusNotifications,
  type NotificationApi,
} from '../features/notifications/Notifications';
import { ActionsPage } from '../features/actions/ActionsPage';
import { ActionDialogs } from '../features/actions/dialogs';
import { OperatorTools } from '../features/actions/OperatorTools';
import { NoActionsNote, RepoActions } from '../features/actions/RepoActions';
import { NotificationsSection } from '../features/notify/NotificationsSection';
import { CardSnooze, RepoSnooze } from '../features/notify/RepoSnooze';
import { NotifyProvider } from '../features/notify/state';
import { OperatorMenu } from '../features/session/OperatorSignIn';
import { SessionMenu, SignIn } from '../features/session/SignIn';
import { useCssHeight } from '../hooks/useCssHeight';
import { useLocation } from '../hooks/useLocation';
import { useLiveStore, shallowEqual } from '../hooks/useWebSocket';
import { useHeadingFocus } from '../hooks/useHeadingFocus';
import { readHistoryParams, writeHistoryParams } from '../lib/historyState';
import { parseRoute } from '../lib/routes';
import { countByStatus, effectiveHealth, isAuditSource } from '../lib/status';
import type { Repo } from '../types/protocol';

/**
 * A repository's action buttons and its snoozed line (both only for a signed-in operator). Stable:
 * cards are memoised.
 */
const repoActions = (repo: Repo) => (
  <>
    <RepoActions repo={repo} />
    <CardSnooze repo={repo.name} />
  </>
);

function Waiting() {
  const { phase, serverStatus } = useLiveStore((s) => ({ phase: s.phase, serverStatus: s.serverStatus }), shallowEqual);
  const source = serverStatus?.report;
  const audit = isAuditSource(source);
  const message =
    source?.state === 'waiting'
      ? source.last_error
        ? `No good ${audit ? 'audit' : 'report'} yet: the server cannot ${audit ? 'audit the folder' : 'use the report file'} (see above).`
        : audit
          ? 'The first audit is running.'
          : 'The server has not loaded a report yet.'
      : phase === 'offline'
        ? 'The server cannot be reached. The dashboard keeps trying.'
        : 'Loading the report…';
  return (
    <div className="placeholder" role="status" aria-live="polite">
      <div className="placeholder__pulse" aria-hidden="true" />
      <p>{message}</p>
    </div>
  );
}

function NotFound() {
  return (
    <div className="placeholder">
      <h1>Page not found</h1>
      <p>
        <Link href="/">Back to the dashboard</Link>
      </p>
    </div>
  );
}

/** The whole page. */
export function App({ notificationApi }: { notificationApi: NotificationApi | null }) {
  const { report, access, session } = useLiveStore((s) => ({ report: s.report, access: s.access, session: s.session }), shallowEqual);
  // The operator's page is there for a signed-in operator even where actions are off (it holds
  // the notifications too).
  const operator = session?.operator?.signed_in === true;
  const signingIn = access === 'signed-out' || access === 'session-ended';
  const location = useLocation();
  const route = useMemo(() => parseRoute(location.pathname, location.search), [location.pathname, location.search]);
  const at = route.kind === 'overview' || route.kind === 'repo' ? readHistoryParams(location.search).at : null;
  const past = usePastState(at);
  const notifications = useStatusNotifications(notificationApi);
  const topbar = useRef<HTMLElement>(null);
  useCssHeight(topbar, '--topbar-height', signingIn);

  // The tab title names the page and carries the health, so a background tab still tells.
  const health = report ? effectiveHealth(report).health : null;
  const missing = report ? (countByStatus(report.repos).find((c) => c.status === 'missing')?.count ?? 0) : 0;
  const pageName =
    route.kind === 'repo'
      ? route.name
      : route.kind === 'history'
        ? 'History'
        : route.kind === 'actions'
          ? 'Actions'
          : route.kind === 'not-found'
            ? 'Page not found'
            : null;
  useEffect(() => {
    const state = health ? `${String(health).toUpperCase()}${missing ? ` · ${missing} missing` : ''}` : null;
    document.title = signingIn ? 'Sign in — gitops-live' : [pageName, state, 'gitops-live'].filter(Boolean).join(' — ');
  }, [health, missing, signingIn, pageName]);

  // A new view (another page, another repository, or the dashboard after signing in) takes focus
  // to its heading, so keyboard and screen-reader users start there instead of on the page's body.
  // A repository's page focuses its card's name instead (the Dashboard does).
  useHeadingFocus(signingIn ? 'sign-in' : `${route.kind}:${location.pathname}`, route.kind !== 'repo');

  if (signingIn) {
    // Instead of the dashboard: the brand and the form, nothing that would need data.
    return (
      <div className="app app--signin">
        <header className="topbar">
          <span className="brand">
            <Activity aria-hidden="true" size={20} />
            <span>gitops-live</span>
          </span>
        </header>
        <main id="main" tabIndex={-1}>
          <SignIn />
        </main>
      </div>
    );
  }

  return (
    <div className="app">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar" ref={topbar}>
        <Link href="/" className="brand" aria-label="gitops-live, all repositories">
          <Activity aria-hidden="true" size={20} />
          <span>gitops-live</span>
        </Link>
        <nav className="topbar__nav" aria-label="Pages">
          <Link href="/" className="topbar__link" aria-current={route.kind === 'overview' || route.kind === 'repo' ? 'page' : undefined}>
            Dashboard
          </Link>
          <Link href="/history" className="topbar__link" aria-current={route.kind === 'history' ? 'page' : undefined}>
            History
          </Link>
          {(operator || route.kind === 'actions') && (
            <Link href="/actions" className="topbar__link" aria-current={route.kind === 'actions' ? 'page' : undefined}>
              Actions
            </Link>
          )}
        </nav>
        <div className="topbar__controls">
          <ConnectionStatus />
          <RealTimeToggle />
        </div>
        <div className="topbar__end">
          <OperatorMenu />
          <SessionMenu />
          <NotificationToggle
            on={notifications.browserOn}
            available={notifications.browserAvailable}
            permission={notifications.permission}
            onToggle={() => void notifications.toggleBrowser()}
          />
        </div>
      </header>
      <OfflineBanner />
      <ServerBanner />
      <NotifyProvider>
        <ActionDialogs>
          <main id="main" tabIndex={-1}>
            {route.kind === 'not-found' ? (
              <NotFound />
            ) : route.kind === 'history' ? (
              <HistoryView />
            ) : route.kind === 'actions' ? (
              <ActionsPage sections={<NotificationsSection />} />
            ) : at && past ? (
              <>
                <PastBanner cursor={at} load={past} liveHref={`${location.pathname}${writeHistoryParams(location.search, { at: null })}`} />
                {past.status === 'ok' && (
                  <Dashboard
                    focus={route.kind === 'repo' ? { name: route.name, action: route.action } : null}
                    past={{ report: past.past.report, cursor: past.past.cursor }}
                    aside={route.kind === 'repo' ? <RepoTimeline name={route.name} /> : null}
                  />
                )}
              </>
            ) : report ? (
              <Dashboard
                focus={route.kind === 'repo' ? { name: route.name, action: route.action } : null}
                aside={
                  route.kind === 'repo' ? (
                    <>
                      <NoActionsNote />
                      <RepoSnooze repo={route.name} />
                      <RepoTimeline name={route.name} />
                    </>
                  ) : null
                }
                tools={<OperatorTools />}
                repoActions={repoActions}
              />
            ) : (
              <Waiting />
            )}
          </main>
        </ActionDialogs>
      </NotifyProvider>
      <Toasts toasts={notifications.toasts} onDismiss={notifications.dismiss} onHold={notifications.hold} />
      <LiveAnnouncer text={notifications.announcement} />
    </div>
  );
}
