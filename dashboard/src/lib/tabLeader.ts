// One live connection per browser, not per tab. The tabs of one origin elect a leader with the
// Web Locks API: the tab that holds the lock `gitops-live-leader` holds the connection; the others
// wait on the same lock, so the next one gets it the moment the leader closes or crashes (the
// browser releases a lock with its document). A BroadcastChannel carries the leader's server
// messages (with their cursors) to the followers, which apply them by the same client rules, and
// the followers' requests (`hello`: send me your state; `reconnect`; a mode or session change) to
// the leader. This module only elects and carries; the store (lib/liveStore.ts) decides what the
// messages mean. Browser APIs are injected so tests run several "tabs" in one process.
import type { Mode } from './liveStore';
import type { ConnectionStatus, CursorText, ServerMessage } from '../types/protocol';
import type { TransportKind } from './transports';

/** The lock the leader holds for as long as it lives. */
export const LEADER_LOCK = 'gitops-live-leader';

/** The channel the tabs talk on. */
export const TAB_CHANNEL = 'gitops-live';

/** The connection as the leader sees it, for the followers to show. */
export interface LeaderView {
  phase: 'connecting' | 'live' | 'reconnecting' | 'fallback' | 'polling' | 'offline';
  transport: TransportKind | null;
  retryAt: number | null;
  failures: number;
  rttMs: number | null;
  serverStatus: ConnectionStatus | null;
  /** Whether the leader may read data (a signed-out leader holds no connection). */
  signedOut: boolean;
}

/** What the tabs say to each other. `from` is the sender's tab id. */
export type TabMessage =
  /** Leader → all: a message from the server, exactly as it came (state messages carry their cursor). */
  | { kind: 'message'; from: string; message: ServerMessage }
  /** Leader → all: how the connection stands. */
  | { kind: 'status'; from: string; view: LeaderView }
  /** Follower → leader: I am here (or I missed something) and hold this cursor; send me your state. */
  | { kind: 'hello'; from: string; cursor: CursorText | null }
  /** Leader → one follower (`to`): its state now, as an `audit-update` at its cursor. */
  | { kind: 'state'; from: string; to: string; message: ServerMessage | null; view: LeaderView }
  /** Any → leader: reconnect now (the person pressed Reconnect in a follower). */
  | { kind: 'reconnect'; from: string }
  /** Any → all: the mode was changed in that tab (it is also in storage). */
  | { kind: 'mode'; from: string; mode: Mode }
  /** Any → all: the viewer signed in or out in that tab; ask the server about the session. */
  | { kind: 'session-changed'; from: string; signedOut: boolean };

/** A message without its sender (the link fills `from` in). */
export type TabMessageBody = TabMessage extends infer M ? (M extends TabMessage ? Omit<M, 'from'> : never) : never;

/** The part of `navigator.locks` used here. */
export interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<void>): Promise<unknown>;
}

/** The part of a BroadcastChannel used here. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

/** What this tab is: waiting for the lock, or holding it. */
export type TabRole = 'follower' | 'leader';

/** One tab's link to the others. */
export interface TabLink {
  /** This tab's id (random). */
  readonly id: string;
  role(): TabRole;
  /**
   * Joins: opens the channel and asks for the lock. `onLeader` runs once, when this tab gets it
   * (at once when no other tab holds it).
   */
  start(handlers: { onLeader(): void; onMessage(message: TabMessage): void }): void;
  /** Sends to the other tabs. */
  post(message: TabMessageBody): void;
  /** Leaves: releases the lock (or stops waiting for it) and closes the channel. */
  stop(): void;
}

/** What a link needs from the browser. */
export interface TabLinkDeps {
  locks: LockManagerLike;
  openChannel(name: string): ChannelLike;
  /** This tab's id; random when absent. */
  id?: string;
}

function randomId(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

function isTabMessage(value: unknown): value is TabMessage {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { kind?: unknown }).kind === 'string' &&
    typeof (value as { from?: unknown }).from === 'string'
  );
}

/** Makes a tab's link. Nothing happens until `start()`. */
export function createTabLink(deps: TabLinkDeps): TabLink {
  const id = deps.id ?? randomId();
  let role: TabRole = 'follower';
  let channel: ChannelLike | null = null;
  let abort: AbortController | null = null;
  let release: (() => void) | null = null;
  let running = false;

  return {
    id,
    role: () => role,
    start(handlers) {
      if (running) return;
      running = true;
      const mine = deps.openChannel(TAB_CHANNEL);
      channel = mine;
      mine.onmessage = (event) => {
        if (channel !== mine || !isTabMessage(event.data) || event.data.from === id) return;
        handlers.onMessage(event.data);
      };
      const controller = new AbortController();
      abort = controller;
      deps.locks
        .request(LEADER_LOCK, { signal: controller.signal }, () => {
          if (abort !== controller) return Promise.resolve();
          role = 'leader';
          // Held until this tab leaves; the browser also lets go when the document goes away.
          const held = new Promise<void>((resolve) => {
            release = resolve;
          });
          handlers.onLeader();
          return held;
        })
        .catch(() => {
          // Aborted while waiting (the tab left before it was its turn): nothing to do.
        });
    },
    post(message) {
      channel?.postMessage({ ...message, from: id });
    },
    stop() {
      if (!running) return;
      running = false;
      abort?.abort();
      abort = null;
      release?.();
      release = null;
      role = 'follower';
      channel?.close();
      channel = null;
    },
  };
}

/**
 * The browser's link, or `null` without the Web Locks API or BroadcastChannel (an older browser,
 * or a page that is not a secure context: `navigator.locks` exists only on https and localhost):
 * then every tab connects by itself, as before.
 */
export function browserTabLink(): TabLink | null {
  const locks = typeof navigator !== 'undefined' ? (navigator as { locks?: LockManagerLike }).locks : undefined;
  if (!locks || typeof locks.request !== 'function' || typeof BroadcastChannel !== 'function') return null;
  return createTabLink({
    locks,
    openChannel: (name) => new BroadcastChannel(name) as unknown as ChannelLike,
  });
}
