// The one store that owns the connection, composed of the client rules and what is kept beside them (liveRules.ts,
// liveData.ts: pure), the transports (liveConnection.ts), the session gate, the saved state and the tab side.
import { missedActions } from './actions';
import { createConnection } from './liveConnection';
import { EMPTY_DATA, receive, takeStatus, toSave, type LiveData, type Received } from './liveData';
import { createPersister, dropOldState, loadMode, savedMark, saveMode } from './livePersistence';
import { restore } from './liveRules';
import { createSessionGate } from './liveSession';
import { createTabSide } from './liveTabs';
import type { StatusChange } from './report';
import { DEFAULT_CONFIG, type LiveSnapshot, type LiveStore, type LiveStoreConfig, type LiveStoreDeps } from './liveStoreTypes';
import type { TransportKind } from './transports';
import type { ActionStatus, ServerMessage } from '../types/protocol';

export * from './liveStoreTypes';
export { loadMode, POLL_INTERVALS, STORAGE_KEYS, type Mode, type PollInterval } from './livePersistence';

/** Makes the store. Nothing happens until `start()`. */
export function createLiveStore(deps: LiveStoreDeps): LiveStore {
  const config: LiveStoreConfig = { ...DEFAULT_CONFIG, ...deps.config };
  const listeners = new Set<() => void>();
  const statusListeners = new Set<(changes: StatusChange[]) => void>();
  const actionListeners = new Set<(status: ActionStatus) => void>();
  let data: LiveData = EMPTY_DATA;
  let mode = loadMode(null);
  let snapshot: LiveSnapshot;
  let started = false;
  // With a saved state, nothing connects before it is read (the socket resumes from its cursor).
  let loaded = !deps.savedState || !savedMark(deps.storage);
  let resumeSentAt: number | null = null;
  let stopWatching: (() => void) | null = null;

  const persister = createPersister({
    ...deps,
    store: deps.savedState ?? null,
    delayMs: config.persistDelayMs,
    current: () => toSave(data, snapshot.transport !== null, deps.now()),
  });
  const gate = createSessionGate({
    enabled: deps.checkSession === true,
    requests: deps,
    host: {
      started: () => started,
      changed: () => refresh(),
      ended() {
        // Someone who is not signed in has no data on screen or on disk.
        connection.stop();
        persister.forget();
        data = { ...EMPTY_DATA, serverRealtime: data.serverRealtime };
      },
      connect: () => connect(),
      operatorSignedIn: () => refreshActionLog(),
      post: (message) => tabs.post(message),
      error: (message) => setData({ lastError: message }),
    },
  });
  const connection = createConnection({
    ...deps,
    config,
    gate,
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
    signedOut: gate.signedOut,
    state: () => data,
    view: () => ({ ...connection.view(), rttMs: data.rttMs, serverStatus: data.serverStatus, signedOut: gate.signedOut() }),
    receive: (message) => handle(message, 'relay'),
    showLeader(view) {
      const status = view.serverStatus;
      if (status && JSON.stringify(status) !== JSON.stringify(data.serverStatus)) take(takeStatus(data, status, deps.now()));
      setData({ rttMs: view.rttMs });
    },
    connect,
    asked: () => (resumeSentAt = deps.now()),
    checkSession: () => gate.check('transport'),
    sessionChanged: (signedOutThere) => void gate.changedElsewhere(signedOutThere),
    modeChanged: (next) => void (mode = next),
    changed: refresh,
    refreshActionLog,
  });

  /** A new snapshot; a follower shows the leader's connection. */
  function refresh() {
    const view = tabs.connectionView(connection.view());
    snapshot = { ...data, ...view, mode, access: gate.access(), session: gate.session() };
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
      // What this tab fetched it keeps (also a first visit's early snapshot); the leader keeps the relayed.
      if (via !== 'relay') persister.schedule();
    }
    if (changed) refresh();
    for (const notice of received.notices) {
      if (notice.kind === 'changed' && notice.statusChanges.length > 0) for (const l of [...statusListeners]) l(notice.statusChanges);
      if (notice.kind === 'resume' || notice.kind === 'request-update') resync(via, notice.kind === 'resume' ? notice.since : null);
      if (notice.kind === 'action-status') for (const l of [...actionListeners]) l(notice.status);
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

  function refreshActionLog() {
    void missedActions(deps, gate.session(), () => data.actions).then((actions) => started && actions && setData({ actions }));
  }

  /** (Re)connects for this tab's role and the effective mode, from scratch, once the saved state is read. */
  function connect() {
    connection.stop();
    resumeSentAt = null;
    if (!loaded || gate.signedOut()) return refresh();
    if (tabs.role() === 'follower') gate.whenAllowed(tabs.askLeader);
    else connection.start(mode.kind === 'live' && !data.serverRealtime ? { kind: 'polling', intervalS: 10 } : mode);
    refresh();
  }

  return {
    getSnapshot: () => snapshot,
    subscribe: (listener) => (listeners.add(listener), () => listeners.delete(listener)),
    subscribeStatusChanges: (listener) => (statusListeners.add(listener), () => statusListeners.delete(listener)),
    subscribeActionStatus: (listener) => (actionListeners.add(listener), () => actionListeners.delete(listener)),
    ...gate.methods,
    start() {
      if (started) return;
      started = true;
      mode = loadMode(deps.storage);
      dropOldState(deps.storage);
      stopWatching = deps.watchNetwork?.((online) => (online && snapshot.phase !== 'live' ? connect() : refresh())) ?? null;
      const waiting = !loaded;
      void deps.savedState?.load().then((saved) => {
        loaded = true;
        if (!started) return;
        if (saved && gate.signedOut()) persister.forget();
        else if (saved && !data.report) data = { ...data, ...restore(data, saved), lastUpdateAt: saved.savedAt };
        // Already connecting (no mark): the saved state only shows until the server answers.
        if (waiting) connect();
        else refresh();
      });
      // Asked first, so the socket waits for the answer; the snapshot request goes out alongside.
      gate.check('start');
      tabs.start();
      connect();
      // A first visit: the early snapshot shows before this tab knows if it holds the connection.
      void deps.firstSnapshot?.().then((message) => started && message && !data.report && handle(message, 'polling'));
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
    setMode(next) {
      saveMode(deps.storage, next);
      mode = next;
      tabs.post({ kind: 'mode', mode });
      if (started) connect();
      else refresh();
    },
  };
}
