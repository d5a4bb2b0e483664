// In-app notifications (toasts) when repositories change status, and opt-in browser
// notifications while the tab is in the background. A burst of changes is one toast
// ("4 repositories changed"), at most three are kept, and on a narrow screen only the newest shows,
// as a one-line bar along the bottom edge. Screen readers hear each burst once, from one hidden
// polite region (`LiveAnnouncer`); the toasts are not a live region. A toast waits while it has
// focus or the pointer, gives focus back to where it came from when it goes, and never covers the
// focused element (the page scrolls it clear).
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { Bell, BellOff, X } from 'lucide-react';
import { useLiveStore } from '../../hooks/useWebSocket';
import { useCssHeight } from '../../hooks/useCssHeight';
import { StatusIndicator } from '../../components/StatusIndicator';
import type { StatusChange } from '../../lib/report';
import { statusLabel } from '../../lib/status';
import { actionTitle, addAction, addChanges, expire, resume, toastTitle, type Toast } from './toastQueue';
import { ANNOUNCE_WINDOW_MS, announcementText, gather, type PendingAnnouncement } from './announcements';

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

  // While the reader is in the toasts (focus or pointer), none expires; afterwards each gets the
  // time it had left.
  const heldSince = useRef<number | null>(null);
  const [held, setHeld] = useState(false);
  const hold = useCallback((on: boolean) => {
    if (on && heldSince.current === null) {
      heldSince.current = Date.now();
      setHeld(true);
    } else if (!on && heldSince.current !== null) {
      const paused = Date.now() - heldSince.current;
      heldSince.current = null;
      setHeld(false);
      setToasts((all) => resume(all, paused, Date.now()));
    }
  }, []);
  const expireUnlessHeld = useCallback((all: Toast[], now: number) => (heldSince.current === null ? expire(all, now) : all), []);

  // One timer, for the toast that expires first.
  useEffect(() => {
    if (held || toasts.length === 0) return;
    const next = Math.min(...toasts.map((t) => t.expiresAt));
    const timer = window.setTimeout(() => setToasts((all) => expire(all, Date.now())), Math.max(0, next - Date.now()));
    return () => window.clearTimeout(timer);
  }, [toasts, held]);

  // What a screen reader hears: everything within a short window, said once.
  const [announcement, setAnnouncement] = useState('');
  const pending = useRef<PendingAnnouncement | null>(null);
  const announceTimer = useRef<number | null>(null);
  const announce = useCallback((changes: readonly StatusChange[], action?: string) => {
    pending.current = gather(pending.current, changes, action);
    if (announceTimer.current !== null) return;
    announceTimer.current = window.setTimeout(() => {
      announceTimer.current = null;
      const gathered = pending.current;
      pending.current = null;
      const text = gathered ? announcementText(gathered.changes, gathered.actions) : '';
      // The same words twice in a row still count as news: a no-break space makes them differ.
      if (text) setAnnouncement((previous) => (previous === text ? `${text}\u00a0` : text));
    }, ANNOUNCE_WINDOW_MS);
  }, []);
  useEffect(
    () => () => {
      if (announceTimer.current !== null) window.clearTimeout(announceTimer.current);
    },
    [],
  );

  useEffect(
    () =>
      store.subscribeStatusChanges((changes) => {
        const id = nextId.current++;
        const now = Date.now();
        setToasts((all) => addChanges(expireUnlessHeld(all, now), changes, now, id));
        announce(changes);
        if (browserOnRef.current && document.hidden && api && api.permission === 'granted') {
          const title = changes.length === 1 ? 'Repository status changed' : `${changes.length} repositories changed status`;
          api.show(title, changes.slice(0, MAX_DETAILED).map(describe).join('\n'));
        }
      }),
    [store, api, announce, expireUnlessHeld],
  );

  useEffect(
    () =>
      store.subscribeActionStatus((status) => {
        if (status.state === 'running') return;
        const id = nextId.current++;
        setToasts((all) => addAction(expireUnlessHeld(all, Date.now()), status, Date.now(), id));
        announce([], actionTitle(status));
      }),
    [store, announce, expireUnlessHeld],
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

  return {
    toasts,
    dismiss,
    hold,
    announcement,
    browserOn,
    toggleBrowser,
    browserAvailable: api !== null,
    permission: api ? permission : 'denied',
  };
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

/** The one region screen readers hear live changes from: hidden, polite, read whole. */
export function LiveAnnouncer({ text }: { text: string }) {
  return (
    <div className="visually-hidden" role="status" aria-live="polite" aria-atomic="true" data-announcer="">
      {text}
    </div>
  );
}

/** Whether two boxes overlap. */
function overlaps(a: DOMRect, b: DOMRect): boolean {
  return (
    a.width > 0 &&
    a.height > 0 &&
    b.width > 0 &&
    b.height > 0 &&
    a.left < b.right &&
    b.left < a.right &&
    a.top < b.bottom &&
    b.top < a.bottom
  );
}

/** Scrolls the page so the focused element (outside the toasts) is not under one of them. */
function uncoverFocus(region: HTMLElement) {
  const focused = document.activeElement;
  if (!(focused instanceof HTMLElement) || focused === document.body || region.contains(focused)) return;
  const box = focused.getBoundingClientRect();
  let top = Number.POSITIVE_INFINITY;
  for (const toast of region.querySelectorAll<HTMLElement>('.toast')) {
    const rect = toast.getBoundingClientRect();
    if (overlaps(box, rect)) top = Math.min(top, rect.top);
  }
  if (top === Number.POSITIVE_INFINITY) return;
  window.scrollBy({ top: box.bottom - top + 8, behavior: 'instant' });
}

/**
 * The stack of toasts (newest last). `onHold(true)` while focus or the pointer is in it (the
 * toasts then wait); a toast that goes while focused gives focus back to the element focused
 * before the toasts (else another toast, else the main content).
 */
export function Toasts({
  toasts,
  onDismiss,
  onHold,
}: {
  toasts: readonly Toast[];
  onDismiss: (id: number) => void;
  onHold?: (held: boolean) => void;
}) {
  const region = useRef<HTMLDivElement>(null);
  // The page keeps this much room below its content (styles.css, main).
  useCssHeight(region, '--toasts-height');
  const returnTo = useRef<HTMLElement | null>(null);
  const focusedToast = useRef<number | null>(null);
  const focusInside = useRef(false);
  const pointerInside = useRef(false);
  const holdRef = useRef(onHold);
  useEffect(() => {
    holdRef.current = onHold;
  }, [onHold]);
  const updateHold = useCallback(() => holdRef.current?.(focusInside.current || pointerInside.current), []);

  // Remember where focus was before the toasts, and keep the focused element clear of them.
  useEffect(() => {
    const onFocusIn = (event: FocusEvent) => {
      const target = event.target;
      if (!(target instanceof HTMLElement) || !region.current || region.current.contains(target)) return;
      returnTo.current = target;
      if (focusInside.current) {
        focusInside.current = false;
        focusedToast.current = null;
        updateHold();
      }
      uncoverFocus(region.current);
    };
    document.addEventListener('focusin', onFocusIn);
    return () => document.removeEventListener('focusin', onFocusIn);
  }, [updateHold]);

  useLayoutEffect(() => {
    const root = region.current;
    if (!root) return;
    const id = focusedToast.current;
    if (id !== null && !toasts.some((t) => t.id === id)) {
      // The focused toast went: focus goes back instead of dropping to the page's body.
      focusedToast.current = null;
      const active = document.activeElement;
      if (!active || active === document.body || !active.isConnected) {
        const back = returnTo.current?.isConnected ? returnTo.current : null;
        const sibling = root.querySelector<HTMLElement>('.toast button');
        const target = back ?? sibling ?? document.getElementById('main');
        target?.focus({ preventScroll: back === null });
        focusInside.current = target !== null && root.contains(target);
        if (!focusInside.current) updateHold();
      }
    }
    // A new toast may land over the focused element.
    uncoverFocus(root);
  }, [toasts, updateHold]);

  return (
    <div
      className="toasts"
      role="region"
      aria-label="Notifications"
      ref={region}
      onFocus={(event) => {
        const toast = (event.target as HTMLElement).closest<HTMLElement>('[data-toast-id]');
        focusedToast.current = toast ? Number(toast.dataset.toastId) : null;
        if (!focusInside.current) {
          focusInside.current = true;
          updateHold();
        }
      }}
      onBlur={(event) => {
        const next = event.relatedTarget;
        if (next instanceof Node && region.current?.contains(next)) return;
        if (next === null) {
          // Focus went nowhere: the element was removed (handled above) or the reader clicked
          // outside; tell them apart once the update settled.
          const left = event.target;
          window.requestAnimationFrame(() => {
            if (left.isConnected && focusInside.current && !region.current?.contains(document.activeElement)) {
              focusInside.current = false;
              focusedToast.current = null;
              updateHold();
            }
          });
          return;
        }
        focusInside.current = false;
        focusedToast.current = null;
        updateHold();
      }}
      onMouseEnter={() => {
        pointerInside.current = true;
        updateHold();
      }}
      onMouseLeave={() => {
        pointerInside.current = false;
        updateHold();
      }}
    >
      <div className="toasts__list">
        {toasts.map((toast) => (
          <div
            className={
              toast.action ? `toast toast--action toast--${toast.action.state}` : toast.changes.length > 1 ? 'toast toast--burst' : 'toast'
            }
            key={toast.id}
            data-toast-id={toast.id}
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
              <span className="visually-hidden">Dismiss notification: {toastTitle(toast)}</span>
            </button>
          </div>
        ))}
      </div>
    </div>
  );
}
