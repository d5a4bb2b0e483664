// A hand-driven LiveStore for component tests, and a render helper that provides it.
import { render, type RenderResult } from '@testing-library/react';
import type { ReactElement } from 'react';
import { vi } from 'vitest';
import { LiveStoreContext } from '../hooks/useWebSocket';
import { createLiveStore, type LiveSnapshot, type LiveStore, type Mode } from '../lib/liveStore';
import type { StatusChange } from '../lib/report';
import type { SignInResult, SignOutResult } from '../lib/session';
import { recordActionStatus } from '../lib/actionStatus';
import type { ActionStatus, ConnectionStatus, OperatorInfo, Session } from '../types/protocol';
import { auditUpdate, clockDeps, EPOCH, FakeSocketServer, json, memoryStorage, NO_OPERATOR, sampleReport, scriptedFetch } from './fakes';

/** A store whose snapshot the test sets. */
export interface ManualStore extends LiveStore {
  set(patch: Partial<LiveSnapshot>): void;
  announce(changes: StatusChange[]): void;
  /** Plays an `action-status` arriving: recorded in the snapshot, and told to listeners. */
  actionStatus(status: ActionStatus): void;
  setSession: ReturnType<typeof vi.fn<(session: Session) => void>>;
  signInOperator: ReturnType<typeof vi.fn<(token: string) => Promise<SignInResult>>>;
  refreshSession: ReturnType<typeof vi.fn<() => Promise<void>>>;
  reconnectNow: ReturnType<typeof vi.fn<() => void>>;
  setMode: ReturnType<typeof vi.fn<(mode: Mode) => void>>;
  signIn: ReturnType<typeof vi.fn<(token: string) => Promise<SignInResult>>>;
  signOut: ReturnType<typeof vi.fn<() => Promise<SignOutResult>>>;
}

/** A live, connected snapshot of the sample report. */
export function liveSnapshot(patch: Partial<LiveSnapshot> = {}): LiveSnapshot {
  return {
    report: sampleReport(),
    cursor: `${EPOCH}:1`,
    source: 'server',
    phase: 'live',
    transport: 'websocket',
    retryAt: null,
    failures: 0,
    rttMs: 12,
    lastUpdateAt: Date.now(),
    serverStatus: null,
    mode: { kind: 'live' },
    serverRealtime: true,
    changedAt: {},
    lastError: null,
    access: 'open',
    session: null,
    actions: {},
    ...patch,
  };
}

/** Makes a store showing `initial`. */
export function manualStore(initial: LiveSnapshot = liveSnapshot()): ManualStore {
  let snapshot = initial;
  const listeners = new Set<() => void>();
  const statusListeners = new Set<(changes: StatusChange[]) => void>();
  const actionListeners = new Set<(status: ActionStatus) => void>();
  const store: ManualStore = {
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
    setSession: vi.fn<(session: Session) => void>((session) => store.set({ session })),
    signInOperator: vi.fn<(token: string) => Promise<SignInResult>>(async () => {
      const session = operatorSession();
      store.set({ session });
      return { ok: true, session };
    }),
    refreshSession: vi.fn<() => Promise<void>>(async () => {}),
    start: () => {},
    stop: () => {},
    flush: () => {},
    reconnectNow: vi.fn<() => void>(),
    setMode: vi.fn<(mode: Mode) => void>((mode) => store.set({ mode })),
    signIn: vi.fn<(token: string) => Promise<SignInResult>>(async () => ({ ok: true, session: signedInSession() })),
    signOut: vi.fn<() => Promise<SignOutResult>>(async () => ({ ok: true, session: signedOutSession() })),
    set(patch) {
      snapshot = { ...snapshot, ...patch };
      for (const listener of [...listeners]) listener();
    },
    announce(changes) {
      for (const listener of [...statusListeners]) listener(changes);
    },
    actionStatus(status) {
      store.set({ actions: recordActionStatus(snapshot.actions, status) });
      for (const listener of [...actionListeners]) listener(status);
    },
  };
  return store;
}

/** Renders `ui` with `store` provided. */
export function renderWithStore(ui: ReactElement, store: LiveStore): RenderResult {
  return render(<LiveStoreContext.Provider value={store}>{ui}</LiveStoreContext.Provider>);
}

/** A server status with the report source in the given state. */
export function serverStatus(report: Partial<ConnectionStatus['report']> = {}): ConnectionStatus {
  return {
    server_time: '2026-01-01T00:00:00Z',
    uptime_s: 5,
    realtime: true,
    clients: { ws: 1, sse: 0, long_poll: 0 },
    cursor: `${EPOCH}:1`,
    report: {
      path: '/srv/audit/GitRepoReport.json',
      state: 'ok',
      last_loaded: '2026-01-01T00:00:00Z',
      last_error: null,
      watch: 'watching',
      watch_note: null,
      ...report,
    },
  };
}

/** A token session, signed in. */
export function signedInSession(patch: Partial<Session> = {}): Session {
  return {
    required: true,
    methods: ['token'],
    authenticated: true,
    user: null,
    expires_at: '2026-01-01T12:00:00Z',
    operator: NO_OPERATOR,
    ...patch,
  };
}

/** A server that asks for the token, and a viewer who has not given it. */
export function signedOutSession(patch: Partial<Session> = {}): Session {
  return { required: true, methods: ['token'], authenticated: false, user: null, expires_at: null, operator: NO_OPERATOR, ...patch };
}

/** The operator as the server describes them: able to act, and signed in unless told otherwise. */
export function operatorInfo(patch: Partial<OperatorInfo> = {}): OperatorInfo {
  return { available: true, reason: null, sign_in: true, signed_in: true, expires_at: '2026-01-01T20:00:00Z', ...patch };
}

/** A server without viewer sign-in, and an operator signed in. */
export function operatorSession(patch: Partial<OperatorInfo> = {}): Session {
  return {
    required: false,
    methods: ['token'],
    authenticated: true,
    user: null,
    expires_at: null,
    operator: operatorInfo(patch),
  };
}

/**
 * The real store over a fake socket server and a fetch that answers the first snapshot (seq 1),
 * with test clocks: for tests of the whole app against the store it ships with.
 */
export function realStore(): { store: LiveStore; sockets: FakeSocketServer } {
  const sockets = new FakeSocketServer();
  const { fetch } = scriptedFetch(() => json(auditUpdate(1)));
  const store = createLiveStore({
    baseUrl: 'http://dash.test/',
    createWebSocket: sockets.create,
    createEventSource: null,
    fetch,
    storage: memoryStorage(),
    ...clockDeps(),
  });
  return { store, sockets };
}
