// In-app notifications (toasts) when repositories change status, and opt-in browser
// notifications while the tab is in the background. A burst of changes is one toast
// ("4 repositories changed"), at most three are kept, and on a narrow screen only the newest shows,
// as a one-line bar along the bottom edge.
import { useCallback, useEffect, useRef, useState } from 'react';
import { Bell, BellOff, X } from 'lucide-react';
import { useLiveStore } from '../../hooks/useWebSocket';
import { StatusIndicator } from '../../components/StatusIndicator';
import type { StatusChange } from '../../lib/report';
import { statusLabel } from '../../lib/status';
import { addAction, addChanges, expire, toastTitle, type Toast } from './toastQueue';

/** The part of the browser's Notification API used here (injectable for tests). */
export interface NotificationApi {
  readonly permission: NotificationPermission;
  requestPermission(): Promise<NotificationPermission>;
  show(title: string, body: string): void;
}

/** The browser's Notification API, or null where there is none. */
export function browserNotificationApi(): NotificationApi | null {
  if (typeof window === 'undefined' || typeof window.Notification !== 'function') return null;
  return {
    get permission() {
      return window.Notification.permission;
    },
    requestPermission: () => window.Notification.requestPermission(),
    show: (title, body) => void new window.Notification(title, { body, tag: 'gitops-live' }),
  };
}

const PREFERENCE_KEY = 'gitops-live:notify';
/** A toast lists this many changes by name, then "and N more". */
const MAX_DETAILED = 3;

function describe(change: StatusChange): string {
  if (change.from === null) return `${change.name} appeared (${statusLabel(change.to ?? '')})`;
  if (change.to === null) return `${change.name} was removed (was ${statusLabel(change.from)})`;
  return `${change.name}: ${statusLabel(change.from)} → ${statusLabel(change.to)}`;
}

function ChangeLine({ change }: { change: StatusChange }) {
  return (
    <span className="toast__line">
      <strong>{change.name}</strong>{' '}
      {change.from === null ? (
        <>
          appeared <StatusIndicator kind="repo" value={change.to ?? ''} />
        </>
      ) : change.to === null ? (
        <>
          removed <span className="muted">(was {statusLabel(change.from)})</span>
        </>
      ) : (
        <>
          <StatusIndicator kind="repo" value={change.from} /> <span aria-label="became">→</span>{' '}
          <StatusIndicator kind="repo" value={change.to} />
        </>
      )}
    </span>
  );
}

function readPreference(): boolean {
  try {
    return window.localStorage.getItem(PREFERENCE_KEY) === 'on';
  } catch {
    return false;
  }
}

function writePreference(on: boolean) {
  try {
    window.localStorage.setItem(PREFERENCE_KEY, on ? 'on' : 'off');
  } catch {
    // Not remembered.
  }
}

/** Toasts for status changes plus the browser-notification switch (rendered in the header). */
export function useStatusNotifications(api: NotificationApi | null) {
  const store = useLiveStore();
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [browserOn, setBrowserOn] = useState(() => readPreference() && api?.permission === 'granted');
  // Reading Notification.permission is a synchronous call into the browser: 0.4-12 ms each while
  // the page loads on a busy machine (measured in chromium, docs/performance.md), and App
  // renders on every update. So it is read once after mounting and after asking, never per render.
  const [permission, setPermission] = useState<NotificationPermission>('default');
  useEffect(() => {
    if (api) setPermission(api.permission);
  }, [api]);
  const nextId = useRef(1);
  const browserOnRef = useRef(browserOn);
  useEffect(() => {
    browserOnRef.current = browserOn;
  }, [browserOn]);

  const dismiss = useCallback((id: number) => setToasts((all) => all.filter((t) => t.id !== id)), []);

  // One timer, for the toast that expires first.
  useEffect(() => {
    if (toasts.length === 0) return;
    const next = Math.min(...toasts.map((t) => t.expiresAt));
    const timer = window.setTimeout(() => setToasts((all) => expire(all, Date.now())), Math.max(0, next - Date.now()));
    return () => window.clearTimeout(timer);
  }, [toasts]);

  useEffect(
    () =>
      store.subscribeStatusChanges((changes) => {
        const id = nextId.current++;
        const now = Date.now();
        setToasts((all) => addChanges(expire(all, now), changes, now, id));
        if (browserOnRef.current && document.hidden && api && api.permission === 'granted') {
          const title = changes.length === 1 ? 'Repository status changed' : `${changes.length} repositories changed status`;
          api.show(title, changes.slice(0, MAX_DETAILED).map(describe).join('\n'));
        }
      }),
    [store, api, dismiss],
  );

  useEffect(
    () =>
      store.subscribeActionStatus((status) => {
        if (status.state === 'running') return;
        const id = nextId.current++;
        setToasts((all) => addAction(expire(all, Date.now()), status, Date.now(), id));
      }),
    [store],
  );

  const toggleBrowser = useCallback(async () => {
    if (!api) return;
    if (browserOn) {
      setBrowserOn(false);
      writePreference(false);
      return;
    }
    const current = api.permission;
    const answer = current === 'granted' ? 'granted' : await api.requestPermission();
    const on = answer === 'granted';
    setPermission(answer);
    setBrowserOn(on);
    writePreference(on);
  }, [api, browserOn]);

  return { toasts, dismiss, browserOn, toggleBrowser, browserAvailable: api !== null, permission: api ? permission : 'denied' };
}

/** The header button that switches browser notifications on and off. */
export function NotificationToggle({
  on,
  available,
  permission,
  onToggle,
}: {
  on: boolean;
  available: boolean;
  permission: NotificationPermission;
  onToggle: () => void;
}) {
  if (!available) return null;
  const blocked = permission === 'denied' && !on;
  return (
    <button
      type="button"
      className="button button--ghost button--icon"
      aria-pressed={on}
      onClick={onToggle}
      disabled={blocked}
      title={
        blocked
          ? 'Notifications are blocked for this site in the browser'
          : on
            ? 'Turn off desktop notifications'
            : 'Notify me on the desktop when a repository changes status'
      }
    >
      {on ? <Bell aria-hidden="true" size={16} /> : <BellOff aria-hidden="true" size={16} />}
      <span className="visually-hidden">Desktop notifications</span>
    </button>
  );
}

/** The stack of toasts (newest last). */
export function Toasts({ toasts, onDismiss }: { toasts: readonly Toast[]; onDismiss: (id: number) => void }) {
  return (
    <div className="toasts" role="region" aria-label="Notifications">
      <div role="status" aria-live="polite" className="toasts__live">
        {toasts.map((toast) => (
          <div
            className={
              toast.action ? `toast toast--action toast--${toast.action.state}` : toast.changes.length > 1 ? 'toast toast--burst' : 'toast'
            }
            key={toast.id}
            data-changes={toast.changes.length}
          >
            <div className="toast__body">
              {toast.action ? (
                <>
                  <strong className="toast__title">{toastTitle(toast)}</strong>
                  {toast.action.summary && <span className="toast__line">{toast.action.summary}</span>}
                </>
              ) : toast.changes.length > 1 ? (
                <>
                  <strong className="toast__title">{toastTitle(toast)}</strong>
                  {toast.changes.slice(0, MAX_DETAILED).map((change) => (
                    <ChangeLine key={change.key} change={change} />
                  ))}
                  {toast.changes.length > MAX_DETAILED && (
                    <span className="muted toast__more">and {toast.changes.length - MAX_DETAILED} more</span>
                  )}
                </>
              ) : (
                toast.changes.map((change) => <ChangeLine key={change.key} change={change} />)
              )}
            </div>
            <button type="button" className="button button--ghost button--icon" onClick={() => onDismiss(toast.id)}>
              <X aria-hidden="true" size={14} />
              <span className="visually-hidden">Dismiss</span>
            </button>
          </div>
        ))}
      </div>
    </div>
  );
}
