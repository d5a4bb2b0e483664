// The one module that owns the connection to gitops-live. It keeps the report and its cursor,
// applies messages by the client rules of docs/protocol.md, reconnects with jittered backoff,
// falls back to SSE, long-poll and polling, and remembers the last state for the next page load.
// When the server asks viewers to sign in, it also keeps the viewer's session: it asks
// `/api/session` before connecting and whenever a failure could mean the session ended.
// It also keeps the last `action-status` of each operator action (a non-state message) and, for a
// signed-in operator, reads the action log again after every reconnect for what was missed.
// Components read it through useSyncExternalStore (hooks/useWebSocket.ts); nothing else opens sockets.
// With a tab link (lib/tabLeader.ts), only the leader tab connects: it relays what the server sends
// to the other tabs, which apply it by the same rules; without one every tab connects by itself.
import { actionsClient } from './actions';
import { mergeActionLog, recordActionStatus, type ActionStatuses } from './actionStatus';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffConfig } from './backoff';
import { formatCursor, orderingOf, parseCursor } from './cursor';
import { applyCatchUp, applyMeta, applyRepoChanges, diffReports, isReport, PatchError, type StatusChange } from './report';
import {
  needsSignIn,
  readSession,
  signIn as signInRequest,
  signOut as signOutRequest,
  type SessionAnswer,
  type SignInResult,
  type SignOutResult,
} from './session';
import { browserTabLink, type LeaderView, type TabLink, type TabMessage } from './tabLeader';
import {
  eventSourceUrl,
  fetchSnapshot,
  isUnauthorized,
  openEventSource,
  openLongPoll,
  openPolling,
  openWebSocket,
  webSocketUrl,
  type EventSourceFactory,
  type FetchLike,
  type Transport,
  type TransportDown,
  type TransportKind,
  type WebSocketFactory,
  type WebSocketLike,
  type EventSourceLike,
} from './transports';
import { CLOSE_CODES, MESSAGE_TYPES, STATE_MESSAGE_TYPES } from '../types/protocol';
import type {
  ActionStatus,
  ClientMessage,
  ConnectionStatus,
  CursorText,
  Report,
  ServerMessage,
  Session,
  StateMessage,
} from '../types/protocol';

/** Polling intervals offered to people, in seconds. */
export const POLL_INTERVALS = [5, 10, 30, 60] as const;

/** A polling interval. */
export type PollInterval = (typeof POLL_INTERVALS)[number];

/** Live (WebSocket first, with fallbacks) or plain polling at a chosen interval. */
export type Mode = { kind: 'live' } | { kind: 'polling'; intervalS: PollInterval };

/**
 * Where the connection stands, as people are told:
 * - `connecting`: nothing has answered yet;
 * - `live`: the WebSocket is open;
 * - `reconnecting`: the WebSocket is down and will be retried at `retryAt`;
 * - `fallback`: SSE, long-poll or polling carries the data while the WebSocket is retried;
 * - `polling`: polling was chosen (or the server has real-time off) and works;
 * - `offline`: the browser is offline, or every transport is failing.
 */
export type Phase = 'connecting' | 'live' | 'reconnecting' | 'fallback' | 'polling' | 'offline';

/**
 * Whether this viewer may read data:
 * - `checking`: the server has not said yet (data may show meanwhile, as without sign-in);
 * - `open`: the server asks nobody to sign in (or is older than viewer sign-in);
 * - `signed-in`: it asks, and this viewer is signed in;
 * - `signed-out`: it asks, and this viewer is not: nothing connects until they sign in;
 * - `session-ended`: as `signed-out`, found out while running: the session ended (expired, signed
 *   out elsewhere, the token changed).
 */
export type Access = 'checking' | 'open' | 'signed-in' | 'signed-out' | 'session-ended';

/** Everything the UI reads. A new object on every change; unchanged parts keep their identity. */
export interface LiveSnapshot {
  report: Report | null;
  cursor: CursorText | null;
  /** `saved`: restored from the last visit and not yet confirmed by the server. */
  source: 'none' | 'saved' | 'server';
  phase: Phase;
  /** The transport carrying data now. */
  transport: TransportKind | null;
  /** When the WebSocket is tried next (client clock, ms), while it is down. */
  retryAt: number | null;
  /** Consecutive WebSocket failures. */
  failures: number;
  /** Round-trip time of the last ping, ms. */
  rttMs: number | null;
  /** When the state last changed or was confirmed current (client clock, ms). */
  lastUpdateAt: number | null;
  /** The server's own status (report source, watcher), when known. */
  serverStatus: ConnectionStatus | null;
  mode: Mode;
  /** False while the server has real-time transports switched off; the store polls then. */
  serverRealtime: boolean;
  /** Repository key → when it last changed live (client clock), for a brief highlight. */
  changedAt: Readonly<Record<string, number>>;
  /** The last problem worth showing (an `error` message, a failed request). */
  lastError: string | null;
  access: Access;
  /** The server's last word on this viewer's session (`GET /api/session`), when it gave one. */
  session: Session | null;
  /** Operators' actions: the last status of each (bounded), from `action-status` and the action log. */
  actions: ActionStatuses;
}

/** Tunables; tests shrink them. */
export interface LiveStoreConfig {
  backoff: BackoffConfig;
  /** WebSocket failures in a row before a fallback transport starts. */
  failuresBeforeFallback: number;
  /** How often to ping over the WebSocket, ms. */
  pingIntervalMs: number;
  /** Silence on an open WebSocket after which it is taken for dead, ms. */
  deadAfterMs: number;
  /** Interval of the polling fallback, ms. */
  fallbackPollMs: number;
  /** How often to read `/api/ws/status` when not on the WebSocket, ms. */
  statusPollMs: number;
  /** How long a repository stays highlighted after a live change, ms. */
  highlightMs: number;
  /** Quiet time before the state is written to storage, ms. */
  persistDelayMs: number;
  /** Fallback transports in the order they are tried. */
  fallbacks: Array<Exclude<TransportKind, 'websocket'>>;
}

/** The defaults. */
export const DEFAULT_CONFIG: LiveStoreConfig = {
  backoff: DEFAULT_BACKOFF,
  failuresBeforeFallback: 3,
  pingIntervalMs: 15_000,
  deadAfterMs: 40_000,
  fallbackPollMs: 5_000,
  statusPollMs: 15_000,
  highlightMs: 2_500,
  persistDelayMs: 1_000,
  fallbacks: ['sse', 'long-poll', 'polling'],
};

/** What the store needs from the outside world; every browser API is injected. */
export interface LiveStoreDeps {
  /** The page's URL; `/ws` and `/api/*` are resolved against it. */
  baseUrl: string;
  createWebSocket: WebSocketFactory;
  /** `null` when the browser has no EventSource: SSE is skipped. */
  createEventSource: EventSourceFactory | null;
  fetch: FetchLike;
  /** localStorage, or `null` to remember nothing. */
  storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  /** Uniform in [0, 1): the jitter source. */
  random: () => number;
  now: () => number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Whether the browser believes it is online. */
  isOnline(): boolean;
  /** Subscribes to the browser's online/offline events; returns the unsubscribe. */
  watchNetwork?(listener: (online: boolean) => void): () => void;
  /**
   * Whether the server may ask viewers to sign in: then the store asks `GET /api/session` at
   * start (alongside the first snapshot, before any socket) and, before trying again, whenever a
   * transport fails the way a missing session makes it (a 401, a 4001 close, a WebSocket that
   * never opened, SSE giving up). Off when absent: the store never asks.
   */
  checkSession?: boolean;
  /**
   * The link to the browser's other tabs (lib/tabLeader.ts). With it, only the tab that holds the
   * leader lock connects; the others show what it relays. Without it, this tab connects by itself.
   */
  tabs?: TabLink | null;
  config?: Partial<LiveStoreConfig>;
}

/** The store. */
export interface LiveStore {
  getSnapshot(): LiveSnapshot;
  subscribe(listener: () => void): () => void;
  /** Listens to repositories changing status (for notifications). */
  subscribeStatusChanges(listener: (changes: StatusChange[]) => void): () => void;
  /** Loads the remembered state and connects. Idempotent. */
  start(): void;
  /** Disconnects and writes the state to storage. */
  stop(): void;
  /** Tries the WebSocket now (or polls now in polling mode), forgetting the backoff. */
  reconnectNow(): void;
  setMode(mode: Mode): void;
  /** Writes the state to storage now (the page is going away). */
  flush(): void;
  /**
   * Signs in with the viewer token (`POST /api/session`) and connects. The token goes into that
   * one request and is not kept; the session is an HttpOnly cookie the browser holds.
   */
  signIn(token: string): Promise<SignInResult>;
  /** Signs out (`DELETE /api/session`): disconnects, forgets the data and the saved state. */
  signOut(): Promise<SignOutResult>;
  /**
   * Signs in as the operator (`POST /api/session` with the operator token; the server decides the
   * role). No reconnect: the data connection does not change. A token that signs in only a viewer
   * is answered `rejected`.
   */
  signInOperator(token: string): Promise<SignInResult>;
  /** Takes a session the page learned elsewhere: no reconnect. */
  setSession(session: Session): void;
  /** Reads `/api/session` again (an action was refused because the operator's session ended). */
  refreshSession(): Promise<void>;
  /** Listens to `action-status` messages as they arrive live (for toasts). */
  subscribeActionStatus(listener: (status: ActionStatus) => void): () => void;
}

/** Storage keys. */
export const STORAGE_KEYS = { state: 'gitops-live:state', mode: 'gitops-live:mode' } as const;

interface SavedState {
  v: 1;
  cursor: CursorText;
  report: Report;
  savedAt: number;
}

/** Reads the mode remembered in storage (live when none). */
export function loadMode(storage: LiveStoreDeps['storage']): Mode {
  try {
    const raw = storage?.getItem(STORAGE_KEYS.mode);
    if (!raw) return { kind: 'live' };
    const value = JSON.parse(raw) as Partial<{ kind: string; intervalS: number }>;
    if (value.kind === 'polling' && (POLL_INTERVALS as readonly number[]).includes(value.intervalS ?? -1)) {
      return { kind: 'polling', intervalS: value.intervalS as PollInterval };
    }
  } catch {
    // A damaged entry means the default.
  }
  return { kind: 'live' };
}

function loadSaved(storage: LiveStoreDeps['storage']): SavedState | null {
  try {
    const raw = storage?.getItem(STORAGE_KEYS.state);
    if (!raw) return null;
    const value = JSON.parse(raw) as Partial<SavedState>;
    if (value.v !== 1 || !parseCursor(value.cursor) || !isReport(value.report)) return null;
    return value as SavedState;
  } catch {
    return null;
  }
}

const STATE_TYPES: ReadonlySet<string> = new Set(STATE_MESSAGE_TYPES);

function isStateMessage(message: ServerMessage): message is StateMessage {
  return STATE_TYPES.has(message.type);
}

/** Where a message came from: a transport of this tab, or the leader tab's relay. */
type Via = TransportKind | 'relay';

/** Makes the store. Nothing happens until `start()`. */
export function createLiveStore(deps: LiveStoreDeps): LiveStore {
  const config: LiveStoreConfig = { ...DEFAULT_CONFIG, ...deps.config };
  const listeners = new Set<() => void>();
  const statusListeners = new Set<(changes: StatusChange[]) => void>();
  const actionListeners = new Set<(status: ActionStatus) => void>();

  let snapshot: LiveSnapshot = {
    report: null,
    cursor: null,
    source: 'none',
    phase: 'connecting',
    transport: null,
    retryAt: null,
    failures: 0,
    rttMs: null,
    lastUpdateAt: null,
    serverStatus: null,
    mode: { kind: 'live' },
    serverRealtime: true,
    changedAt: {},
    lastError: null,
    access: deps.checkSession ? 'checking' : 'open',
    session: null,
    actions: {},
  };

  // Connection machinery. `generation` invalidates callbacks of anything torn down.
  let started = false;
  let generation = 0;
  let socket: Transport | null = null;
  let socketUp = false;
  let socketDelivered = false;
  let fallback: Transport | null = null;
  let fallbackIndex = -1;
  let fallbackUp = false;
  let fallbackFailing = false;
  let poller: Transport | null = null;
  let pollerUp: boolean | null = null;
  let retryTimer: unknown = null;
  let pingTimer: unknown = null;
  let statusTimer: unknown = null;
  let persistTimer: unknown = null;
  let lastHeardAt = 0;
  let resumeSentAt: number | null = null;
  let initialFetch: AbortController | null = null;
  let unwatchNetwork: (() => void) | null = null;
  // Viewer sign-in. While a session check is out nothing (re)connects: the next steps wait in
  // `afterSessionCheck` and run once the server says the viewer may read data. `sessionVersion`
  // changes on sign-in and sign-out, so an answer asked for before one of them is not applied.
  let sessionCheck: Promise<void> | null = null;
  let afterSessionCheck: Array<() => void> = [];
  let sessionVersion = 0;
  // Tabs. `solo`: no link, this tab connects. `leader`: it holds the lock, connects and relays.
  // `follower`: it waits for the lock and shows what the leader relays (`leaderView` is the
  // leader's connection, `leaderId` the tab it was last heard from).
  const tabs = deps.tabs ?? null;
  let role: 'solo' | 'leader' | 'follower' = tabs ? 'follower' : 'solo';
  let leaderView: LeaderView | null = null;
  let leaderId: string | null = null;
  let viewSent = '';

  const emit = () => {
    for (const listener of [...listeners]) listener();
    if (role === 'leader') shareView();
  };

  const update = (patch: Partial<LiveSnapshot>) => {
    snapshot = { ...snapshot, ...patch };
    snapshot = { ...snapshot, phase: derivePhase() };
    emit();
  };

  function effectiveMode(): Mode {
    if (snapshot.mode.kind === 'live' && !snapshot.serverRealtime) return { kind: 'polling', intervalS: 10 };
    return snapshot.mode;
  }

  function derivePhase(): Phase {
    if (role === 'follower') return leaderView?.phase ?? 'connecting';
    if (effectiveMode().kind === 'polling') {
      if (!deps.isOnline() || pollerUp === false) return 'offline';
      return pollerUp ? 'polling' : 'connecting';
    }
    if (socketUp) return 'live';
    if (fallbackUp && !fallbackFailing) return 'fallback';
    if (!deps.isOnline()) return 'offline';
    if (fallbackFailing) return 'offline';
    if (snapshot.failures === 0) return 'connecting';
    return 'reconnecting';
  }

  function currentTransport(): TransportKind | null {
    if (effectiveMode().kind === 'polling') return pollerUp ? 'polling' : null;
    if (socketUp) return 'websocket';
    if (fallback && fallbackUp && !fallbackFailing) return fallback.kind;
    return null;
  }

  // ---- State ----------------------------------------------------------------------------------

  function schedulePersist() {
    // The leader keeps the saved state fresh for every tab; followers would write the same.
    if (!deps.storage || persistTimer !== null || role === 'follower') return;
    persistTimer = deps.setTimeout(() => {
      persistTimer = null;
      persistNow();
    }, config.persistDelayMs);
  }

  function persistNow() {
    if (!deps.storage || !snapshot.report || !snapshot.cursor) return;
    const saved: SavedState = { v: 1, cursor: snapshot.cursor, report: snapshot.report, savedAt: deps.now() };
    try {
      deps.storage.setItem(STORAGE_KEYS.state, JSON.stringify(saved));
    } catch {
      // Over quota (a very large report): the next visit simply starts from the server.
    }
  }

  function highlight(touched: readonly string[]): Record<string, number> {
    const now = deps.now();
    const next: Record<string, number> = {};
    for (const [key, at] of Object.entries(snapshot.changedAt)) {
      if (now - at < config.highlightMs) next[key] = at;
    }
    for (const key of touched) next[key] = now;
    return next;
  }

  function announce(changes: StatusChange[]) {
    if (changes.length === 0) return;
    for (const listener of [...statusListeners]) listener(changes);
  }

  /** Applies one message by the client rules. */
  function handle(message: ServerMessage, via: Via) {
    // Everything the server says goes to the other tabs as it came, before this tab applies it,
    // so every tab sees the same messages in the same order (pongs and the server's status are
    // this tab's own: the status goes with the leader's view).
    if (role === 'leader' && via !== 'relay' && message.type !== MESSAGE_TYPES.pong && message.type !== MESSAGE_TYPES.connectionStatus) {
      tabs?.post({ kind: 'message', message });
    }
    lastHeardAt = deps.now();
    if (via === 'websocket') socketDelivered = true;
    if (isStateMessage(message)) return handleState(message, via);
    switch (message.type) {
      case MESSAGE_TYPES.connectionStatus:
        return handleStatus(message.data);
      case MESSAGE_TYPES.pong: {
        const ts = message.data?.ts;
        if (typeof ts === 'number') update({ rttMs: Math.max(0, deps.now() - ts) });
        return;
      }
      case MESSAGE_TYPES.error:
        update({ lastError: `${message.data?.code ?? 'error'}: ${message.data?.message ?? ''}` });
        return;
      case MESSAGE_TYPES.actionStatus:
        return handleActionStatus(message.data);
      default:
        return;
    }
  }

  function handleStatus(status: ConnectionStatus) {
    const confirmed = status.cursor !== null && status.cursor === snapshot.cursor && snapshot.source === 'saved';
    const realtime = status.realtime !== false;
    update({
      serverStatus: status,
      ...(confirmed ? { source: 'server' as const, lastUpdateAt: deps.now() } : {}),
      serverRealtime: realtime,
    });
    if (realtime !== lastRealtime) {
      lastRealtime = realtime;
      if (started) connect();
    }
  }
  let lastRealtime = true;

  function handleActionStatus(status: ActionStatus) {
    if (!status || typeof status !== 'object') return;
    const actions = recordActionStatus(snapshot.actions, status);
    if (actions === snapshot.actions) return;
    update({ actions });
    for (const listener of [...actionListeners]) listener(status);
  }

  /**
   * Reads the newest entries of the action log (signed-in operators only): `action-status` is not
   * replayed on resume, so what ended while disconnected is learned here. Failures are quiet: the
   * next reconnect asks again. Not where actions are off (an operator signed in for notifications).
   */
  function refreshActionLog() {
    const operator = snapshot.session?.operator;
    if (!operator?.signed_in || !operator.available) return;
    const mine = generation;
    actionsClient(deps)
      .actionLog({ limit: 50 })
      .then((page) => {
        if (mine !== generation || !Array.isArray(page?.actions)) return;
        const merged = mergeActionLog(snapshot.actions, page.actions);
        if (merged.statuses !== snapshot.actions) update({ actions: merged.statuses });
      })
      .catch(() => {});
  }

  function handleState(message: StateMessage, via: Via) {
    const incoming = parseCursor(`${message.epoch}:${message.seq}`);
    if (!incoming) return;
    if (message.type === MESSAGE_TYPES.auditUpdate) {
      if (!isReport(message.data)) return;
      // An older snapshot of this same run (a slow HTTP answer overtaken by the socket) would
      // take the state back in time: keep the newer one.
      const current = parseCursor(snapshot.cursor);
      if (current && current.epoch === incoming.epoch && incoming.seq < current.seq && snapshot.source === 'server') return;
      const before = snapshot.report;
      const diff = before ? diffReports(before, message.data) : null;
      resumeSentAt = null;
      update({
        report: message.data,
        cursor: formatCursor(incoming),
        source: 'server',
        lastUpdateAt: deps.now(),
        changedAt: diff && snapshot.source === 'server' ? highlight(diff.touched) : snapshot.changedAt,
      });
      schedulePersist();
      if (diff) announce(diff.statusChanges);
      return;
    }
    const current = parseCursor(snapshot.cursor);
    const base =
      message.type === MESSAGE_TYPES.catchUp ? parseCursor(message.data?.since) : { epoch: incoming.epoch, seq: incoming.seq - 1 };
    const ordering = snapshot.report ? orderingOf(current, incoming, base) : 'gap';
    if (ordering === 'already-applied') return;
    if (ordering === 'gap') return resync(via, 'resume');
    const report = snapshot.report as Report;
    try {
      const applied =
        message.type === MESSAGE_TYPES.repoStatusChange
          ? applyRepoChanges(report, [message.data])
          : message.type === MESSAGE_TYPES.healthMetricsUpdate
            ? { report: applyMeta(report, message.data), statusChanges: [], touched: [] }
            : applyCatchUp(report, message.data);
      resumeSentAt = null;
      update({
        report: applied.report,
        cursor: formatCursor(incoming),
        source: 'server',
        lastUpdateAt: deps.now(),
        changedAt: applied.touched.length > 0 ? highlight(applied.touched) : snapshot.changedAt,
      });
      schedulePersist();
      announce(applied.statusChanges);
    } catch (error) {
      if (!(error instanceof PatchError)) throw error;
      // The state no longer matches the server's: take a fresh snapshot.
      update({ lastError: error.message });
      resync(via, 'snapshot');
    }
  }

  /**
   * Closes a gap: `resume` with the cursor on the WebSocket (or `request-update` when the state
   * cannot be trusted); on SSE a new stream from the cursor; long-poll resumes by itself on its
   * next request; otherwise a snapshot over HTTP. Sent at most once per 5 s while unanswered.
   */
  function resync(via: Via, kind: 'resume' | 'snapshot') {
    const now = deps.now();
    if (resumeSentAt !== null && now - resumeSentAt < 5_000) return;
    resumeSentAt = now;
    // A follower asks the leader, which answers with its whole state.
    if (via === 'relay') return askLeader();
    const cursor = kind === 'resume' && snapshot.report ? snapshot.cursor : null;
    if (via === 'websocket' && socket && socketUp) {
      const message: ClientMessage = cursor ? { type: 'resume', since: cursor } : { type: 'request-update' };
      if (socket.send(message)) return;
    }
    if (via === 'sse' && cursor && fallback?.kind === 'sse') {
      startFallback(fallbackIndex);
      return;
    }
    if (via === 'long-poll' && cursor) return;
    void snapshotOverHttp();
  }

  async function snapshotOverHttp() {
    const mine = generation;
    try {
      const message = await fetchSnapshot(deps, null);
      if (mine === generation && message) handle(message, currentTransport() ?? 'polling');
    } catch (error) {
      if (mine !== generation) return;
      if (isUnauthorized(error)) checkSession('transport');
      update({ lastError: (error as Error).message });
    }
  }

  // ---- Viewer session -------------------------------------------------------------------------

  function signedOut(): boolean {
    return snapshot.access === 'signed-out' || snapshot.access === 'session-ended';
  }

  /** Runs `next` now, or when the session check out now allows it; never after a teardown. */
  function whenAllowed(next: () => void) {
    if (!sessionCheck) return next();
    const mine = generation;
    afterSessionCheck.push(() => {
      if (mine === generation) next();
    });
  }

  /**
   * Asks the server about the session, one check at a time. `start`: the first look; `transport`:
   * a transport failed the way a missing session makes it, so a "not signed in" means it ended.
   */
  function checkSession(why: 'start' | 'transport') {
    if (!deps.checkSession || sessionCheck || signedOut()) return;
    const version = sessionVersion;
    sessionCheck = readSession(deps).then((answer) => {
      sessionCheck = null;
      const waiting = afterSessionCheck;
      afterSessionCheck = [];
      if (!started) return;
      if (version === sessionVersion) applySession(answer, why);
      if (!signedOut()) for (const next of waiting) next();
    });
  }

  /** A session learned outside the checks (the operator signed in). */
  function takeSession(session: Session) {
    const wasOperator = snapshot.session?.operator?.signed_in === true;
    sessionVersion += 1;
    applySession({ kind: 'session', session }, 'transport');
    if (!wasOperator && session.operator?.signed_in) refreshActionLog();
  }

  /** Takes the server's answer about the session; signs out when it says the viewer is not signed in. */
  function applySession(answer: SessionAnswer, why: 'start' | 'transport' | 'sign-out') {
    // No answer: carry on as before; the next failure asks again.
    if (answer.kind === 'unknown') return;
    if (answer.kind === 'absent') return update({ access: 'open', session: null });
    const session = answer.session;
    if (!needsSignIn(session)) return update({ access: session.required ? 'signed-in' : 'open', session });
    endSession(why === 'transport' ? 'session-ended' : 'signed-out', session);
  }

  /** Disconnects and forgets the data: someone who is not signed in has none on screen or on disk. */
  function endSession(access: 'signed-out' | 'session-ended', session: Session) {
    teardown();
    if (persistTimer !== null) deps.clearTimeout(persistTimer);
    persistTimer = null;
    try {
      deps.storage?.removeItem(STORAGE_KEYS.state);
    } catch {
      // Storage that cannot be written holds nothing new either.
    }
    snapshot = { ...snapshot, failures: 0, retryAt: null, transport: null };
    update({
      access,
      session,
      report: null,
      cursor: null,
      source: 'none',
      serverStatus: null,
      changedAt: {},
      rttMs: null,
      lastUpdateAt: null,
      lastError: null,
      actions: {},
    });
  }

  // ---- WebSocket ------------------------------------------------------------------------------

  function openSocket() {
    clearRetry();
    closeSocket();
    const mine = generation;
    socketDelivered = false;
    const url = webSocketUrl(deps.baseUrl, snapshot.report ? snapshot.cursor : null);
    const transport = openWebSocket(
      url,
      {
        up: () => {
          if (mine !== generation || transport !== socket) return;
          socketUp = true;
          lastHeardAt = deps.now();
          stopFallback();
          stopStatusPolling();
          startPinging();
          update({ transport: 'websocket', retryAt: null, lastError: null });
          refreshActionLog();
        },
        message: (message) => {
          if (mine !== generation || transport !== socket) return;
          const first = !socketDelivered;
          handle(message, 'websocket');
          if (first && snapshot.failures !== 0) update({ failures: 0 });
        },
        down: (info) => {
          if (mine !== generation || transport !== socket) return;
          socket = null;
          socketUp = false;
          stopPinging();
          socketFailed(info);
        },
      },
      deps.createWebSocket,
    );
    socket = transport;
  }

  function socketFailed(info: TransportDown) {
    // A browser does not say why a socket never opened (a 401 is one reason), and 4001 is an
    // ended session: ask the server before trying again.
    if (!info.wasUp || info.code === CLOSE_CODES.sessionExpired || info.unauthorized) checkSession('transport');
    const failures = snapshot.failures + 1;
    const delay =
      info.retryAfterMs ??
      (info.code === CLOSE_CODES.stalled && failures === 1 ? 0 : backoffDelay(failures - 1, deps.random, config.backoff));
    snapshot = { ...snapshot, failures };
    if (!fallback && failures >= config.failuresBeforeFallback) {
      whenAllowed(() => {
        if (!fallback && !socketUp) startFallback(0);
      });
    }
    // The server's status says whether real-time is switched off there, and how the report is.
    whenAllowed(startStatusPolling);
    scheduleRetry(delay);
    update({ transport: currentTransport() });
  }

  function scheduleRetry(delay: number) {
    clearRetry();
    retryTimer = deps.setTimeout(() => {
      retryTimer = null;
      whenAllowed(openSocket);
      update({ retryAt: null });
    }, delay);
    snapshot = { ...snapshot, retryAt: deps.now() + delay };
  }

  function clearRetry() {
    if (retryTimer !== null) deps.clearTimeout(retryTimer);
    retryTimer = null;
  }

  function closeSocket() {
    socket?.close();
    socket = null;
    socketUp = false;
    stopPinging();
  }

  function startPinging() {
    stopPinging();
    const ping = () => {
      if (!socket || !socketUp) return;
      if (deps.now() - lastHeardAt > config.deadAfterMs) {
        // Nothing heard for too long, not even a pong: the connection is dead without a close.
        const dead = socket;
        socket = null;
        socketUp = false;
        dead.close();
        socketFailed({ terminal: true, wasUp: true });
        return;
      }
      socket.send({ type: 'ping', ts: deps.now() });
      pingTimer = deps.setTimeout(ping, config.pingIntervalMs);
    };
    ping();
  }

  function stopPinging() {
    if (pingTimer !== null) deps.clearTimeout(pingTimer);
    pingTimer = null;
  }

  // ---- Fallbacks ------------------------------------------------------------------------------

  function httpOptions() {
    return {
      fetch: deps.fetch,
      baseUrl: deps.baseUrl,
      getCursor: () => (snapshot.report ? snapshot.cursor : null),
      setTimeout: deps.setTimeout,
      clearTimeout: deps.clearTimeout,
    };
  }

  function startFallback(index: number) {
    stopFallback();
    let kind = config.fallbacks[index];
    while (kind === 'sse' && !deps.createEventSource) kind = config.fallbacks[++index];
    if (!kind) return;
    fallbackIndex = index;
    const mine = generation;
    const handlers = {
      up: () => {
        if (mine !== generation || transport !== fallback) return;
        if (socketUp) return stopFallback();
        const wasUp = fallbackUp && !fallbackFailing;
        fallbackUp = true;
        fallbackFailing = false;
        update({ transport: currentTransport() });
        if (!wasUp) refreshActionLog();
      },
      message: (message: ServerMessage) => {
        if (mine !== generation || transport !== fallback || socketUp) return;
        handle(message, kind);
      },
      down: (info: TransportDown) => {
        if (mine !== generation || transport !== fallback) return;
        // SSE cannot tell a 401 from a network error: ask whenever it gives up.
        if (info.unauthorized || (info.terminal && kind === 'sse')) checkSession('transport');
        if (!info.terminal) {
          fallbackFailing = true;
          update({ transport: currentTransport() });
          return;
        }
        fallback = null;
        fallbackUp = false;
        if (!socketUp) {
          whenAllowed(() => {
            if (!socketUp && !fallback) startFallback(index + 1);
          });
        }
        update({ transport: currentTransport() });
      },
    };
    const cursor = snapshot.report ? snapshot.cursor : null;
    const transport: Transport =
      kind === 'sse'
        ? openEventSource(eventSourceUrl(deps.baseUrl, cursor), handlers, deps.createEventSource as EventSourceFactory)
        : kind === 'long-poll'
          ? openLongPoll(handlers, httpOptions())
          : openPolling(handlers, { ...httpOptions(), intervalMs: config.fallbackPollMs });
    fallback = transport;
  }

  function stopFallback() {
    fallback?.close();
    fallback = null;
    fallbackUp = false;
    fallbackFailing = false;
    fallbackIndex = -1;
  }

  // ---- Server status over HTTP (when the WebSocket is not there to push it) -------------------

  function startStatusPolling() {
    if (statusTimer !== null) return;
    const mine = generation;
    const poll = async () => {
      try {
        const response = await deps.fetch(new URL('/api/ws/status', deps.baseUrl).href, { cache: 'no-store' });
        if (response.status === 401 && mine === generation) checkSession('transport');
        if (response.ok && mine === generation) {
          const body = (await response.json()) as { type?: string; data?: ConnectionStatus } & Partial<ConnectionStatus>;
          const status = body.type === MESSAGE_TYPES.connectionStatus && body.data ? body.data : (body as ConnectionStatus);
          if (status && typeof status === 'object' && status.report) handleStatus(status);
        }
      } catch {
        // The data transports say whether the server is reachable; this is only extra detail.
      }
      if (mine === generation && statusTimer !== null) statusTimer = deps.setTimeout(() => void poll(), config.statusPollMs);
    };
    statusTimer = deps.setTimeout(() => void poll(), 0);
  }

  function stopStatusPolling() {
    if (statusTimer !== null) deps.clearTimeout(statusTimer);
    statusTimer = null;
  }

  // ---- Polling mode ---------------------------------------------------------------------------

  function startPoller(intervalS: number) {
    const mine = generation;
    pollerUp = null;
    const transport = openPolling(
      {
        up: () => {
          if (mine !== generation) return;
          pollerUp = true;
          update({ transport: 'polling' });
        },
        message: (message) => {
          if (mine === generation) handle(message, 'polling');
        },
        down: (info) => {
          if (mine !== generation) return;
          if (info.unauthorized) checkSession('transport');
          pollerUp = false;
          update({ transport: null });
        },
      },
      { ...httpOptions(), intervalMs: intervalS * 1000 },
    );
    poller = transport;
    startStatusPolling();
  }

  // ---- Lifecycle ------------------------------------------------------------------------------

  function teardown() {
    generation += 1;
    initialFetch?.abort();
    initialFetch = null;
    clearRetry();
    closeSocket();
    stopFallback();
    stopStatusPolling();
    poller?.close();
    poller = null;
    pollerUp = null;
    resumeSentAt = null;
    afterSessionCheck = [];
  }

  // ---- Tabs -----------------------------------------------------------------------------------

  /** The connection as this (leader) tab has it, for the followers. */
  function currentView(): LeaderView {
    return {
      phase: snapshot.phase,
      transport: snapshot.transport,
      retryAt: snapshot.retryAt,
      failures: snapshot.failures,
      rttMs: snapshot.rttMs,
      serverStatus: snapshot.serverStatus,
      signedOut: signedOut(),
    };
  }

  /** Tells the followers how the connection stands, when that changed. */
  function shareView() {
    const view = currentView();
    const text = JSON.stringify(view);
    if (text === viewSent) return;
    viewSent = text;
    tabs?.post({ kind: 'status', view });
  }

  /** A follower asks the leader for its state (answered with `state`). */
  function askLeader() {
    resumeSentAt = deps.now();
    tabs?.post({ kind: 'hello', cursor: snapshot.report ? snapshot.cursor : null });
  }

  /** The leader answers a follower's `hello`: its state as an `audit-update` at its cursor. */
  function answerHello(to: string) {
    const cursor = parseCursor(snapshot.cursor);
    const message: ServerMessage | null =
      snapshot.report && cursor && snapshot.source === 'server'
        ? { type: MESSAGE_TYPES.auditUpdate, epoch: cursor.epoch, seq: cursor.seq, data: snapshot.report }
        : null;
    tabs?.post({ kind: 'state', to, message, view: currentView() });
  }

  /** A follower takes the leader's view of the connection. */
  function takeView(view: LeaderView, from: string) {
    const newLeader = from !== leaderId;
    leaderId = from;
    const wasCarrying = leaderView?.transport != null;
    leaderView = view;
    if (view.serverStatus && JSON.stringify(view.serverStatus) !== JSON.stringify(snapshot.serverStatus)) handleStatus(view.serverStatus);
    update({ transport: view.transport, retryAt: view.retryAt, failures: view.failures, rttMs: view.rttMs });
    // The leader found the session ended: see whether it ended for this tab too.
    if (view.signedOut && !signedOut()) checkSession('transport');
    // A leader that took over may not have heard this tab's `hello`.
    if (newLeader && snapshot.source !== 'server' && !signedOut()) askLeader();
    // `action-status` is not replayed: what ended while the leader was cut off is in the log.
    if (!wasCarrying && view.transport !== null) refreshActionLog();
  }

  function onTabMessage(message: TabMessage) {
    if (!started) return;
    switch (message.kind) {
      case 'message':
        if (role === 'follower' && !signedOut()) handle(message.message, 'relay');
        return;
      case 'status':
        if (role === 'follower') takeView(message.view, message.from);
        return;
      case 'state':
        if (role !== 'follower' || message.to !== tabs?.id) return;
        takeView(message.view, message.from);
        if (message.message && !signedOut()) handle(message.message, 'relay');
        return;
      case 'hello':
        if (role === 'leader') answerHello(message.from);
        return;
      case 'reconnect':
        if (role === 'leader') connect();
        return;
      case 'mode':
        snapshot = { ...snapshot, mode: message.mode };
        if (role === 'leader') connect();
        else update({});
        return;
      case 'session-changed':
        void sessionChangedElsewhere(message.signedOut);
        return;
    }
  }

  /** Another tab signed in or out: the cookie is shared, so ask the server what holds now. */
  async function sessionChangedElsewhere(signedOutThere: boolean) {
    const wasOut = signedOut();
    const version = ++sessionVersion;
    const answer = await readSession(deps);
    if (version !== sessionVersion || !started) return;
    applySession(answer, signedOutThere ? 'sign-out' : 'transport');
    if (wasOut && !signedOut()) connect();
  }

  /** This tab got the lock: it connects, from its own cursor (the shared one: it applied every relay). */
  function becomeLeader() {
    if (!started) return;
    role = 'leader';
    leaderView = null;
    leaderId = null;
    viewSent = '';
    connect();
  }

  /** (Re)connects for the effective mode, from scratch. */
  function connect() {
    teardown();
    if (signedOut()) return update({});
    if (role === 'follower') {
      whenAllowed(askLeader);
      update({});
      return;
    }
    const mode = effectiveMode();
    snapshot = { ...snapshot, failures: 0, retryAt: null, transport: null };
    if (mode.kind === 'polling') {
      whenAllowed(() => startPoller(mode.intervalS));
      update({});
      return;
    }
    if (snapshot.report && snapshot.cursor) {
      whenAllowed(openSocket);
      update({});
      return;
    }
    // No state yet: the snapshot over HTTP is compressed and arrives before a socket would be
    // up; the socket then starts from its cursor.
    const mine = generation;
    initialFetch = new AbortController();
    update({});
    fetchSnapshot(deps, null, initialFetch.signal)
      .then((message) => {
        if (mine === generation && message) handle(message, 'polling');
      })
      .catch((error: unknown) => {
        // The socket will bring the snapshot instead (unless the session has ended).
        if (mine === generation && isUnauthorized(error)) checkSession('transport');
      })
      .finally(() => {
        if (mine !== generation) return;
        initialFetch = null;
        whenAllowed(() => {
          openSocket();
          update({});
        });
      });
  }

  return {
    getSnapshot: () => snapshot,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    subscribeStatusChanges(listener) {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
    subscribeActionStatus(listener) {
      actionListeners.add(listener);
      return () => actionListeners.delete(listener);
    },
    async signInOperator(token) {
      const result = await signInRequest(deps, token);
      if (!result.ok) return result;
      takeSession(result.session);
      if (!result.session.operator.signed_in) {
        return { ok: false, reason: 'rejected', retryAfterS: null, message: 'that token signs in a viewer, not the operator' };
      }
      return result;
    },
    setSession: takeSession,
    async refreshSession() {
      const version = ++sessionVersion;
      const answer = await readSession(deps);
      if (version === sessionVersion && started) applySession(answer, 'transport');
    },
    start() {
      if (started) return;
      started = true;
      const saved = loadSaved(deps.storage);
      snapshot = {
        ...snapshot,
        mode: loadMode(deps.storage),
        ...(saved && !snapshot.report
          ? { report: saved.report, cursor: saved.cursor, source: 'saved' as const, lastUpdateAt: saved.savedAt }
          : {}),
      };
      unwatchNetwork =
        deps.watchNetwork?.((online) => {
          if (online && snapshot.phase !== 'live') connect();
          else update({});
        }) ?? null;
      // Asked first, so the socket waits for the answer; the snapshot request goes out alongside.
      checkSession('start');
      // The link first, so a follower's `hello` has a channel; the lock is granted later (a
      // callback), and then this tab connects again as the leader.
      tabs?.start({ onLeader: becomeLeader, onMessage: onTabMessage });
      connect();
    },
    stop() {
      if (!started) return;
      started = false;
      teardown();
      tabs?.stop();
      role = tabs ? 'follower' : 'solo';
      leaderView = null;
      leaderId = null;
      viewSent = '';
      unwatchNetwork?.();
      unwatchNetwork = null;
      if (persistTimer !== null) deps.clearTimeout(persistTimer);
      persistTimer = null;
      persistNow();
    },
    reconnectNow() {
      if (!started) return;
      if (role === 'follower') tabs?.post({ kind: 'reconnect' });
      else connect();
    },
    flush() {
      if (persistTimer !== null) deps.clearTimeout(persistTimer);
      persistTimer = null;
      persistNow();
    },
    setMode(mode) {
      try {
        deps.storage?.setItem(STORAGE_KEYS.mode, JSON.stringify(mode));
      } catch {
        // Not remembered; still applied.
      }
      snapshot = { ...snapshot, mode };
      tabs?.post({ kind: 'mode', mode });
      if (started) connect();
      else update({});
    },
    async signIn(token) {
      const result = await signInRequest(deps, token);
      if (!result.ok) return result;
      if (needsSignIn(result.session)) {
        return { ok: false, reason: 'refused', retryAfterS: null, message: 'the server did not sign you in' };
      }
      sessionVersion += 1;
      update({ access: result.session.required ? 'signed-in' : 'open', session: result.session, lastError: null });
      tabs?.post({ kind: 'session-changed', signedOut: false });
      if (started) connect();
      return result;
    },
    async signOut() {
      const result = await signOutRequest(deps);
      if (!result.ok) {
        update({ lastError: `sign out failed: ${result.message}` });
        return result;
      }
      sessionVersion += 1;
      applySession({ kind: 'session', session: result.session }, 'sign-out');
      tabs?.post({ kind: 'session-changed', signedOut: true });
      return result;
    },
  };
}

/** The store wired to the browser's own WebSocket, EventSource, fetch, storage and clock. */
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
  return createLiveStore({
    baseUrl: window.location.href,
    // The browser's classes have wider handler types than the small shapes the transports use.
    createWebSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
    createEventSource: typeof EventSource === 'function' ? (url) => new EventSource(url) as unknown as EventSourceLike : null,
    fetch: (input, init) => window.fetch(input, init),
    storage,
    random: Math.random,
    now: () => Date.now(),
    setTimeout: (callback, ms) => window.setTimeout(callback, ms),
    clearTimeout: (handle) => window.clearTimeout(handle as number),
    isOnline: () => navigator.onLine !== false,
    checkSession: true,
    tabs,
    watchNetwork(listener) {
      const online = () => listener(true);
      const offline = () => listener(false);
      window.addEventListener('online', online);
      window.addEventListener('offline', offline);
      return () => {
        window.removeEventListener('online', online);
        window.removeEventListener('offline', offline);
      };
    },
    ...(config ? { config } : {}),
  });
}
