// The live store's public shapes: what the UI reads (`LiveSnapshot`), what it can ask
// (`LiveStore`), the tunables and what the store needs from the browser. Kept apart from the
// store (lib/liveStore.ts), which re-exports them, so the store is only its composition.
import type { ActionStatuses } from './actionStatus';
import { DEFAULT_BACKOFF } from './backoff';
import type { ConnectionConfig, Phase } from './liveConnection';
export type { Phase } from './liveConnection';
import type { ModeStorage, Mode, SavedStateStore } from './livePersistence';
import type { Access } from './liveSession';
export type { Access } from './liveSession';
import type { StatusChange } from './report';
import type { SignInResult, SignOutResult } from './session';
import type { TabLink } from './tabLeader';
import type { EventSourceFactory, FetchLike, TransportKind, WebSocketFactory } from './transports';
import type { ActionStatus, ConnectionStatus, CursorText, Report, ServerMessage, Session } from '../types/protocol';

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
export interface LiveStoreConfig extends ConnectionConfig {
  /** How long a repository stays highlighted after a live change, ms. */
  highlightMs: number;
  /** Quiet time before the state is written to storage (at most one write per period), ms. */
  persistDelayMs: number;
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
  persistDelayMs: 10_000,
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
  /** localStorage (the mode; an old saved state found there is removed), or `null`. */
  storage: ModeStorage | null;
  /** Where the last state is kept between visits (IndexedDB in the browser); absent: nowhere. */
  savedState?: SavedStateStore | null;
  /**
   * A snapshot the page asked for before the store existed (`public/early.js`), shown as soon as
   * it arrives whichever tab turns out to hold the connection; absent or `null`: none.
   */
  firstSnapshot?: (() => Promise<ServerMessage | null>) | null;
  /** Runs a callback when the page is idle (`requestIdleCallback`): the saved state's writes wait for it. */
  whenIdle?: (callback: () => void) => void;
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
  /** Loads the remembered state, then connects. Idempotent. */
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
