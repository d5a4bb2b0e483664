// The server's notifications as the operator's pages share them: one `GET /api/notifications`
// answer held above the pages (the app wraps them in `NotifyProvider`), read by the Actions page's
// section, a repository's snooze panel and the cards' "snoozed" line, and read again after every
// change made here (a test, a retry, a snooze, a wake) and on a timer while a section asks for it.
// Nothing is asked of the server unless the operator is signed in.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useLiveStore } from '../../hooks/useWebSocket';
import { ActionError } from '../../lib/actions';
import {
  browserNotificationsClient,
  isNotificationsOff,
  type NotificationsClient,
  type NotificationsOverview,
} from '../../lib/notifications';

/** What is known of the server's notifications. */
export type NotifyState =
  /** Not asked: no operator signed in. */
  | { status: 'idle' }
  | { status: 'loading' }
  /** The server has no destination (`404 notifications-off`). */
  | { status: 'off'; message: string }
  | { status: 'ok'; overview: NotificationsOverview }
  /** The last read failed; what was read before stays shown. */
  | { status: 'error'; error: string; overview: NotificationsOverview | null };

export interface NotifyContextValue {
  state: NotifyState;
  client: NotificationsClient;
  /** Reads the overview again. */
  reload: () => Promise<void>;
  /** Runs a change (test, retry, snooze, wake), then reads the overview again; the error, if any, as text. */
  change: (work: (client: NotificationsClient) => Promise<unknown>) => Promise<string | null>;
  /** A component that needs the overview is mounted (returns its unmount). */
  want: () => () => void;
}

const NotifyContext = createContext<NotifyContextValue | null>(null);

/** An error in words. */
export function errorText(error: unknown): string {
  if (error instanceof ActionError) return error.message;
  return (error as Error)?.message ?? String(error);
}

let browserClient: NotificationsClient | null = null;

/** Holds the overview for everything inside it; `client` replaces the browser's (tests). */
export function NotifyProvider({ client: given, children }: { client?: NotificationsClient; children: ReactNode }) {
  const client = useMemo(() => given ?? (browserClient ??= browserNotificationsClient()), [given]);
  const store = useLiveStore();
  const session = useLiveStore((s) => s.session);
  // Actions may be off (`serve --report`): notifications need only the operator's sign-in.
  const operator = session?.operator?.signed_in === true;
  const [state, setState] = useState<NotifyState>({ status: 'idle' });
  const [wanted, setWanted] = useState(0);
  const off = state.status === 'off';
  const anyWanted = wanted > 0;
  // Only the newest read may set the state: an older answer arriving late is dropped.
  const sequence = useRef(0);

  const reload = useCallback(async () => {
    const mine = ++sequence.current;
    try {
      const overview = await client.overview();
      if (mine === sequence.current) setState({ status: 'ok', overview });
    } catch (failure) {
      if (mine !== sequence.current) return;
      if (isNotificationsOff(failure)) {
        setState({ status: 'off', message: errorText(failure) });
        return;
      }
      if (failure instanceof ActionError && failure.operatorLost) void store.refreshSession();
      setState((before) => ({
        status: 'error',
        error: errorText(failure),
        overview: before.status === 'ok' || before.status === 'error' ? before.overview : null,
      }));
    }
  }, [client, store]);

  useEffect(() => {
    if (!operator) {
      sequence.current += 1;
      setState({ status: 'idle' });
      return;
    }
    // Read when a page that needs it opens; a server that said "off" is not asked again.
    if (!anyWanted || off) return;
    setState((before) => (before.status === 'idle' ? { status: 'loading' } : before));
    void reload();
  }, [operator, reload, anyWanted, off]);

  const want = useCallback(() => {
    setWanted((n) => n + 1);
    return () => setWanted((n) => n - 1);
  }, []);

  const change = useCallback(
    async (work: (client: NotificationsClient) => Promise<unknown>) => {
      let error: string | null = null;
      try {
        await work(client);
      } catch (failure) {
        if (failure instanceof ActionError && failure.operatorLost) void store.refreshSession();
        error = errorText(failure);
      }
      await reload();
      return error;
    },
    [client, reload, store],
  );

  const value = useMemo(
    () => ({ state: operator ? state : { status: 'idle' as const }, client, reload, change, want }),
    [operator, state, client, reload, change, want],
  );
  return <NotifyContext.Provider value={value}>{children}</NotifyContext.Provider>;
}

/** The shared notifications; without a provider, nothing is known (`idle`). */
export function useNotify(): NotifyContextValue | null {
  return useContext(NotifyContext);
}

/** Asks for the overview while the calling component is mounted. */
export function useWantNotify() {
  const want = useNotify()?.want;
  useEffect(() => want?.(), [want]);
}

/** Reads the overview again every `everyMs` while the calling component is mounted. */
export function usePolling(everyMs: number) {
  const notify = useNotify();
  const reload = notify?.reload;
  const on = notify !== null && notify.state.status !== 'idle' && notify.state.status !== 'off';
  useEffect(() => {
    if (!reload || !on) return;
    const timer = window.setInterval(() => void reload(), everyMs);
    return () => window.clearInterval(timer);
  }, [reload, on, everyMs]);
}
