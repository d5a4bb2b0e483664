// The live store's connection: the transport ladder. The first snapshot over HTTP, then the
// WebSocket from its cursor, retried with full-jitter capped backoff; after a few failures SSE,
// then long-poll, then polling carry the data while the socket is retried in the background;
// pings find a socket that died without a close; the server's status is read over HTTP while
// the socket is not there to push it; polling mode is a poller alone. It only moves messages:
// the store decides what they mean (`deliver`) and when it may connect (the session gate).
import { backoffDelay, type BackoffConfig } from './backoff';
import type { Mode } from './livePersistence';
import type { SessionGate } from './liveSession';
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
} from './transports';
import { CLOSE_CODES, MESSAGE_TYPES } from '../types/protocol';
import type { ClientMessage, ConnectionStatus, CursorText, ServerMessage } from '../types/protocol';

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

/** The connection as the snapshot shows it. */
export interface ConnectionView {
  phase: Phase;
  /** The transport carrying data now. */
  transport: TransportKind | null;
  /** When the WebSocket is tried next (client clock, ms), while it is down. */
  retryAt: number | null;
  /** Consecutive WebSocket failures. */
  failures: number;
}

/** The tunables the connection uses (part of the store's `LiveStoreConfig`). */
export interface ConnectionConfig {
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
  /** Fallback transports in the order they are tried. */
  fallbacks: Array<Exclude<TransportKind, 'websocket'>>;
}

/** What the connection needs: the browser's APIs, and the store it reports to. */
export interface ConnectionDeps {
  baseUrl: string;
  createWebSocket: WebSocketFactory;
  createEventSource: EventSourceFactory | null;
  fetch: FetchLike;
  random: () => number;
  now: () => number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  isOnline(): boolean;
  config: ConnectionConfig;
  gate: SessionGate;
  /** The cursor to resume from (`null` without a state). */
  cursor(): CursorText | null;
  /** A server message arrived. */
  deliver(message: ServerMessage, via: TransportKind): void;
  /** The server's status, read over HTTP. */
  status(status: ConnectionStatus): void;
  /** The view changed. */
  changed(): void;
  /** A request failed in a way worth showing. */
  error(message: string): void;
  /** A transport came up (again): what was missed outside the stream can be read now. */
  cameUp(via: TransportKind): void;
}

/** The connection. */
export interface Connection {
  /** Connects for `mode` from scratch: the first snapshot when there is no state, then the ladder. */
  start(mode: Mode): void;
  /** Closes everything; nothing it started calls back afterwards. */
  stop(): void;
  /** Closes a gap on `via`: `resume` from `since`, or a snapshot when `since` is null. */
  resync(via: TransportKind, since: CursorText | null): void;
  view(): ConnectionView;
}

/** Makes the connection. Nothing happens until `start`. */
export function createConnection(deps: ConnectionDeps): Connection {
  const { config, gate } = deps;
  // `generation` invalidates the callbacks of anything torn down.
  let generation = 0;
  let mode: Mode = { kind: 'live' };
  let failures = 0;
  let retryAt: number | null = null;
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
  let lastHeardAt = 0;
  let initialFetch: AbortController | null = null;

  const polling = () => mode.kind === 'polling';

  function phase(): Phase {
    if (polling()) {
      if (!deps.isOnline() || pollerUp === false) return 'offline';
      return pollerUp ? 'polling' : 'connecting';
    }
    if (socketUp) return 'live';
    if (fallbackUp && !fallbackFailing) return 'fallback';
    if (!deps.isOnline() || fallbackFailing) return 'offline';
    return failures === 0 ? 'connecting' : 'reconnecting';
  }

  function transport(): TransportKind | null {
    if (polling()) return pollerUp ? 'polling' : null;
    if (socketUp) return 'websocket';
    if (fallback && fallbackUp && !fallbackFailing) return fallback.kind;
    return null;
  }

  function deliver(message: ServerMessage, via: TransportKind) {
    lastHeardAt = deps.now();
    deps.deliver(message, via);
  }

  // ---- WebSocket ------------------------------------------------------------------------------

  function openSocket() {
    clearRetry();
    closeSocket();
    const mine = generation;
    socketDelivered = false;
    const opened = openWebSocket(
      webSocketUrl(deps.baseUrl, deps.cursor()),
      {
        up: () => {
          if (mine !== generation || opened !== socket) return;
          socketUp = true;
          lastHeardAt = deps.now();
          retryAt = null;
          stopFallback();
          stopStatusPolling();
          startPinging();
          deps.changed();
          deps.cameUp('websocket');
        },
        message: (message) => {
          if (mine !== generation || opened !== socket) return;
          const first = !socketDelivered;
          socketDelivered = true;
          deliver(message, 'websocket');
          if (first && failures !== 0) {
            failures = 0;
            deps.changed();
          }
        },
        down: (info) => {
          if (mine !== generation || opened !== socket) return;
          socket = null;
          socketUp = false;
          stopPinging();
          socketFailed(info);
        },
      },
      deps.createWebSocket,
    );
    socket = opened;
  }

  function socketFailed(info: TransportDown) {
    // A browser does not say why a socket never opened (a 401 is one reason), and 4001 is an
    // ended session: ask the server before trying again.
    if (!info.wasUp || info.code === CLOSE_CODES.sessionExpired || info.unauthorized) gate.check('transport');
    failures += 1;
    const delay =
      info.retryAfterMs ??
      (info.code === CLOSE_CODES.stalled && failures === 1 ? 0 : backoffDelay(failures - 1, deps.random, config.backoff));
    if (!fallback && failures >= config.failuresBeforeFallback) {
      gate.whenAllowed(() => {
        if (!fallback && !socketUp) startFallback(0);
      });
    }
    // The server's status says whether real-time is switched off there, and how the report is.
    gate.whenAllowed(startStatusPolling);
    scheduleRetry(delay);
    deps.changed();
  }

  function scheduleRetry(delay: number) {
    clearRetry();
    retryTimer = deps.setTimeout(() => {
      retryTimer = null;
      gate.whenAllowed(openSocket);
      retryAt = null;
      deps.changed();
    }, delay);
    retryAt = deps.now() + delay;
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
      getCursor: deps.cursor,
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
        if (mine !== generation || opened !== fallback) return;
        if (socketUp) return stopFallback();
        const wasUp = fallbackUp && !fallbackFailing;
        fallbackUp = true;
        fallbackFailing = false;
        deps.changed();
        if (!wasUp) deps.cameUp(kind);
      },
      message: (message: ServerMessage) => {
        if (mine !== generation || opened !== fallback || socketUp) return;
        deliver(message, kind);
      },
      down: (info: TransportDown) => {
        if (mine !== generation || opened !== fallback) return;
        // SSE cannot tell a 401 from a network error: ask whenever it gives up.
        if (info.unauthorized || (info.terminal && kind === 'sse')) gate.check('transport');
        if (!info.terminal) {
          fallbackFailing = true;
          deps.changed();
          return;
        }
        fallback = null;
        fallbackUp = false;
        if (!socketUp) {
          gate.whenAllowed(() => {
            if (!socketUp && !fallback) startFallback(index + 1);
          });
        }
        deps.changed();
      },
    };
    const opened: Transport =
      kind === 'sse'
        ? openEventSource(eventSourceUrl(deps.baseUrl, deps.cursor()), handlers, deps.createEventSource as EventSourceFactory)
        : kind === 'long-poll'
          ? openLongPoll(handlers, httpOptions())
          : openPolling(handlers, { ...httpOptions(), intervalMs: config.fallbackPollMs });
    fallback = opened;
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
        if (response.status === 401 && mine === generation) gate.check('transport');
        if (response.ok && mine === generation) {
          const body = (await response.json()) as { type?: string; data?: ConnectionStatus } & Partial<ConnectionStatus>;
          const status = body.type === MESSAGE_TYPES.connectionStatus && body.data ? body.data : (body as ConnectionStatus);
          if (status && typeof status === 'object' && status.report) deps.status(status);
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
    poller = openPolling(
      {
        up: () => {
          if (mine !== generation) return;
          pollerUp = true;
          deps.changed();
        },
        message: (message) => {
          if (mine === generation) deliver(message, 'polling');
        },
        down: (info) => {
          if (mine !== generation) return;
          if (info.unauthorized) gate.check('transport');
          pollerUp = false;
          deps.changed();
        },
      },
      { ...httpOptions(), intervalMs: intervalS * 1000 },
    );
    startStatusPolling();
  }

  // ---- Snapshots over HTTP --------------------------------------------------------------------

  async function snapshotOverHttp() {
    const mine = generation;
    try {
      const message = await fetchSnapshot(deps, null);
      if (mine === generation && message) deliver(message, transport() ?? 'polling');
    } catch (error) {
      if (mine !== generation) return;
      if (isUnauthorized(error)) gate.check('transport');
      deps.error((error as Error).message);
    }
  }

  /** No state yet: the snapshot over HTTP is compressed and arrives before a socket would be up. */
  function firstSnapshotThenSocket() {
    const mine = generation;
    initialFetch = new AbortController();
    fetchSnapshot(deps, null, initialFetch.signal)
      .then((message) => {
        if (mine === generation && message) deliver(message, 'polling');
      })
      .catch((error: unknown) => {
        // The socket will bring the snapshot instead (unless the session has ended).
        if (mine === generation && isUnauthorized(error)) gate.check('transport');
      })
      .finally(() => {
        if (mine !== generation) return;
        initialFetch = null;
        gate.whenAllowed(() => {
          openSocket();
          deps.changed();
        });
      });
  }

  function stop() {
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
    failures = 0;
    retryAt = null;
    gate.drop();
  }

  return {
    start(next) {
      stop();
      mode = next;
      if (next.kind === 'polling') gate.whenAllowed(() => startPoller(next.intervalS));
      else if (deps.cursor()) gate.whenAllowed(openSocket);
      else firstSnapshotThenSocket();
    },
    stop,
    resync(via, since) {
      if (via === 'websocket' && socket && socketUp) {
        const message: ClientMessage = since ? { type: 'resume', since } : { type: 'request-update' };
        if (socket.send(message)) return;
      }
      if (via === 'sse' && since && fallback?.kind === 'sse') return startFallback(fallbackIndex);
      if (via === 'long-poll' && since) return;
      void snapshotOverHttp();
    },
    view: () => ({ phase: phase(), transport: transport(), retryAt, failures }),
  };
}
