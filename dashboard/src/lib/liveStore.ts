// The one store that owns the connection to gitops-live, composed of small parts: the client
// rules and what is kept beside them (liveRules.ts, liveData.ts: pure), the transport ladder
// (liveConnection.ts), the session gate (liveSession.ts), the remembered state (livePersistence.ts)
// and the tab link (liveTabs.ts over tabLeader.ts). Components read it through
// useSyncExternalStore (hooks/useWebSocket.ts); nothing else opens sockets.
import { actionsClient } from './actions';
import { mergeActionLog } from './actionStatus';
import { createConnection } from './liveConnection';
import { EMPTY_DATA, receive, takeStatus, type LiveData, type Received } from './liveData';
import { createPersister, indexedDbSavedState, loadMode, savedMark, saveMode, STORAGE_KEYS } from './livePersistence';
import { restore } from './liveRules';
import * as gate from './liveSession';
import { createTabSide } from './liveTabs';
import { signIn as signInRequest, signOut as signOutRequest, readSession, type SessionAnswer } from './session';
import { browserTabLink, type LeaderView } from './tabLeader';
import { DEFAULT_CONFIG, type LiveSnapshot, type LiveStore, type LiveStoreConfig, type LiveStoreDeps } from './liveStoreTypes';
import type { EventSourceLike, TransportKind, WebSocketLike } from './transports';
import type { StatusChange } from './report';
import type { ActionStatus, ServerMessage, Session } from '../types/protocol';

export type { LiveSnapshot, LiveStore, LiveStoreConfig, LiveStoreDeps } from './liveStoreTypes';
export { DEFAULT_CONFIG } from './liveStoreTypes';
export type { Phase } from './liveConnection';
export type { Access } from './liveSession';
export { loadMode, POLL_INTERVALS, STORAGE_KEYS, type Mode, type PollInterval } from './livePersistence';

/** Makes the store. Nothing happens until `start()`. */
export function createLiveStore(deps: LiveStoreDeps): LiveStore {
  const config: LiveStoreConfig = { ...DEFAULT_CONFIG, ...deps.config };
  const listeners = new Set<() => void>();
  const statusListeners = new Set<(changes: StatusChange[]) => void>();
  const actionListeners = new Set<(status: ActionStatus) => void>();
  let data: LiveData = EMPTY_DATA;
  let extra = { mode: loadMode(null), access: (deps.checkSession ? 'checking' : 'open') as gate.Access, session: null as Session | null };
  let snapshot: LiveSnapshot;
  let started = false;
  // With a saved state, nothing connects before it is read (the socket resumes from its cursor).
  let loaded = !deps.savedState || !savedMark(deps.storage);
  let resumeSentAt: number | null = null;
  let stopWatching: (() => void) | null = null;
  const signedOut = () => gate.isSignedOut(extra.access);

  const persister = createPersister({
    ...deps,
    store: deps.savedState ?? null,
    delayMs: config.persistDelayMs,
    current: () => (data.report && data.cursor ? { report: data.report, cursor: data.cursor } : null),
  });
  const session = gate.createSessionGate({
    enabled: deps.checkSession === true,
    session: deps,
    signedOut,
    started: () => started,
    apply: applySession,
  });
  const connection = createConnection({
    ...deps,
    config,
    gate: session,
    cursor: () => (data.report ? data.cursor : null),
    deliver: (message, via) => handle(message, via),
    status: (status) => take(takeStatus(data, status, deps.now())),
    changed: () => refresh(),
    error: (message) => setData({ lastError: message }),
    cameUp(via) {
      if (via === 'websocket') setData({ lastError: null });
      refreshActionLog();
    },
  });
  const tabs = createTabSide(deps.tabs ?? null, {
    started: () => started,
    signedOut,
    state: () => data,
    view: (): LeaderView => ({ ...connection.view(), rttMs: data.rttMs, serverStatus: data.serverStatus, signedOut: signedOut() }),
    receive: (message) => handle(message, 'relay'),
    showLeader(view) {
      if (view.serverStatus && JSON.stringify(view.serverStatus) !== JSON.stringify(data.serverStatus))
        take(takeStatus(data, view.serverStatus, deps.now()));
      setData({ rttMs: view.rttMs });
    },
    connect,
    asked: () => (resumeSentAt = deps.now()),
    checkSession: () => session.check('transport'),
    sessionChanged: (signedOutThere) => void sessionChangedElsewhere(signedOutThere),
    modeChanged(mode) {
      extra = { ...extra, mode };
      if (tabs.role() === 'leader') connect();
      else refresh();
    },
    refreshActionLog,
  });

  function refresh() {
    const own = connection.view();
    const leader = tabs.role() === 'follower' ? tabs.leaderView() : null;
    const view =
      tabs.role() !== 'follower'
        ? own
        : {
            phase: leader?.phase ?? 'connecting',
            transport: leader?.transport ?? null,
            retryAt: leader?.retryAt ?? null,
            failures: leader?.failures ?? 0,
          };
    snapshot = { ...data, ...extra, ...view };
    for (const listener of [...listeners]) listener();
    tabs.share();
  }
  const setData = (patch: Partial<LiveData>) => ((data = { ...data, ...patch }), refresh());
  refresh();

  /** Carries out what `receive` returned. */
  function take(received: Received, via: TransportKind | 'relay' = 'polling') {
    const changed = received.data !== data;
    data = received.data;
    if (received.outcome.kind === 'advanced') {
      resumeSentAt = null;
      // The leader keeps the saved state fresh for every tab; followers would write the same.
      if (tabs.role() !== 'follower') persister.schedule();
    }
    if (changed) refresh();
    for (const notice of received.notices) {
      if (notice.kind === 'changed' && notice.statusChanges.length > 0)
        for (const listener of [...statusListeners]) listener(notice.statusChanges);
      if (notice.kind === 'resume' || notice.kind === 'request-update') resync(via, notice.kind === 'resume' ? notice.since : null);
      if (notice.kind === 'action-status') for (const listener of [...actionListeners]) listener(notice.status);
      if (notice.kind === 'realtime-changed' && started) connect();
    }
  }

  function handle(message: ServerMessage, via: TransportKind | 'relay') {
    // Everything the server says goes to the other tabs as it came, before this tab applies it.
    if (via !== 'relay') tabs.relay(message);
    take(receive(data, message, deps.now(), config.highlightMs), via);
  }

  /** Closes a gap, at most once per 5 s while unanswered; a follower asks the leader. */
  function resync(via: TransportKind | 'relay', since: string | null) {
    if (resumeSentAt !== null && deps.now() - resumeSentAt < 5_000) return;
    resumeSentAt = deps.now();
    if (via === 'relay') tabs.askLeader();
    else connection.resync(via, since);
  }

  /** Reads the newest entries of the action log (signed-in operators only): `action-status` is not replayed. */
  function refreshActionLog() {
    const operator = extra.session?.operator;
    if (!operator?.signed_in || !operator.available) return;
    actionsClient(deps)
      .actionLog({ limit: 50 })
      .then((page) => {
        if (!started || !Array.isArray(page?.actions)) return;
        const merged = mergeActionLog(data.actions, page.actions);
        if (merged.statuses !== data.actions) setData({ actions: merged.statuses });
      })
      .catch(() => {});
  }

  function applySession(answer: SessionAnswer, why: gate.SessionWhy) {
    const change = gate.accessAfter(answer, why);
    if (change.kind === 'keep') return;
    extra = { ...extra, access: change.access, session: change.session };
    if (change.kind === 'access') return refresh();
    // Someone who is not signed in has no data on screen or on disk.
    connection.stop();
    persister.forget();
    data = { ...EMPTY_DATA, serverRealtime: data.serverRealtime };
    refresh();
  }

  function takeSession(next: Session) {
    const wasOperator = extra.session?.operator?.signed_in === true;
    session.bump();
    applySession({ kind: 'session', session: next }, 'transport');
    if (!wasOperator && next.operator?.signed_in) refreshActionLog();
  }

  /** Another tab signed in or out: the cookie is shared, so ask the server what holds now. */
  async function sessionChangedElsewhere(signedOutThere: boolean) {
    const wasOut = signedOut();
    const version = session.bump();
    const answer = await readSession(deps);
    if (!session.current(version) || !started) return;
    applySession(answer, signedOutThere ? 'sign-out' : 'transport');
    if (wasOut && !signedOut()) connect();
  }

  /** (Re)connects for this tab's role and the effective mode, from scratch (once the saved state is read). */
  function connect() {
    connection.stop();
    resumeSentAt = null;
    if (!loaded || signedOut()) return refresh();
    if (tabs.role() === 'follower') session.whenAllowed(tabs.askLeader);
    else connection.start(extra.mode.kind === 'live' && !data.serverRealtime ? { kind: 'polling', intervalS: 10 } : extra.mode);
    refresh();
  }

  return {
    getSnapshot: () => snapshot,
    subscribe: (listener) => (listeners.add(listener), () => listeners.delete(listener)),
    subscribeStatusChanges: (listener) => (statusListeners.add(listener), () => statusListeners.delete(listener)),
    subscribeActionStatus: (listener) => (actionListeners.add(listener), () => actionListeners.delete(listener)),
    async signInOperator(token) {
      const result = await signInRequest(deps, token);
      if (result.ok) takeSession(result.session);
      return gate.operatorSignInRefused(result) ?? result;
    },
    setSession: takeSession,
    async refreshSession() {
      const version = session.bump();
      const answer = await readSession(deps);
      if (session.current(version) && started) applySession(answer, 'transport');
    },
    start() {
      if (started) return;
      started = true;
      extra = { ...extra, mode: loadMode(deps.storage) };
      try {
        deps.storage?.removeItem(STORAGE_KEYS.state); // The state moved to IndexedDB: free the quota.
      } catch {
        // Nothing to free.
      }
      stopWatching = deps.watchNetwork?.((online) => (online && snapshot.phase !== 'live' ? connect() : refresh())) ?? null;
      const waiting = !loaded;
      void deps.savedState?.load().then((saved) => {
        loaded = true;
        if (!started) return;
        if (saved && signedOut()) persister.forget();
        else if (saved && !data.report) data = { ...data, ...restore(data, saved), lastUpdateAt: saved.savedAt };
        // Already connecting (no mark): the saved state only shows until the server answers.
        if (waiting) connect();
        else refresh();
      });
      // Asked first, so the socket waits for the answer; the snapshot request goes out alongside.
      session.check('start');
      tabs.start();
      connect();
    },
    stop() {
      if (!started) return;
      started = false;
      connection.stop();
      tabs.stop();
      stopWatching?.();
      stopWatching = null;
      persister.flush();
    },
    reconnectNow() {
      if (!started) return;
      if (tabs.role() === 'follower') tabs.post({ kind: 'reconnect' });
      else connect();
    },
    flush: () => persister.flush(),
    setMode(mode) {
      saveMode(deps.storage, mode);
      extra = { ...extra, mode };
      tabs.post({ kind: 'mode', mode });
      if (started) connect();
      else refresh();
    },
    async signIn(token) {
      const result = await signInRequest(deps, token);
      const refused = gate.viewerSignInRefused(result);
      if (!result.ok || refused) return refused ?? result;
      session.bump();
      extra = { ...extra, access: result.session.required ? 'signed-in' : 'open', session: result.session };
      setData({ lastError: null });
      tabs.post({ kind: 'session-changed', signedOut: false });
      if (started) connect();
      return result;
    },
    async signOut() {
      const result = await signOutRequest(deps);
      if (!result.ok) {
        setData({ lastError: `sign out failed: ${result.message}` });
        return result;
      }
      session.bump();
      applySession({ kind: 'session', session: result.session }, 'sign-out');
      tabs.post({ kind: 'session-changed', signedOut: true });
      return result;
    },
  };
}

/** The store wired to the browser's WebSocket, EventSource, fetch, storage, IndexedDB and clock. */
export function createBrowserLiveStore(config?: Partial<LiveStoreConfig>): LiveStore {
  const tabs = browserTabLink();
  // For the browser tests: which tab holds the connection.
  (window as { __gitopsTabRole?: () => string }).__gitopsTabRole = () => (tabs ? tabs.role() : 'solo');
  const storage = (() => {
    try {
      return window.localStorage;
    } catch {
      return null;
    }
  })();
  const watch = (listener: (online: boolean) => void) => {
    const online = () => listener(true);
    const offline = () => listener(false);
    window.addEventListener('online', online);
    window.addEventListener('offline', offline);
    return () => (window.removeEventListener('online', online), window.removeEventListener('offline', offline));
  };
  return createLiveStore({
    baseUrl: window.location.href,
    // The browser's classes have wider handler types than the small shapes the transports use.
    createWebSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
    createEventSource: typeof EventSource === 'function' ? (url) => new EventSource(url) as unknown as EventSourceLike : null,
    fetch: (input, init) => window.fetch(input, init),
    storage,
    savedState: typeof indexedDB === 'object' && indexedDB ? indexedDbSavedState(indexedDB) : null,
    random: Math.random,
    now: () => Date.now(),
    setTimeout: (callback, ms) => window.setTimeout(callback, ms),
    clearTimeout: (handle) => window.clearTimeout(handle as number),
    isOnline: () => navigator.onLine !== false,
    checkSession: true,
    tabs,
    watchNetwork: watch,
    ...(config ? { config } : {}),
  });
}
