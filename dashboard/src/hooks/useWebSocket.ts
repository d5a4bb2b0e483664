// The connection hooks. The live store (lib/liveStore.ts) owns the connection; these read it with
// useSyncExternalStore. `useWebSocket` keeps the name the plan gives the connection hook.
import { createContext, useContext, useSyncExternalStore } from 'react';
import type { LiveSnapshot, LiveStore, Mode } from '../lib/liveStore';

/** The store the app runs on; the app provides it, tests provide one on fakes. */
export const LiveStoreContext = createContext<LiveStore | null>(null);

/** The store itself (for actions and status-change subscriptions). */
export function useLiveStore(): LiveStore {
  const store = useContext(LiveStoreContext);
  if (!store) throw new Error('useLiveStore needs a LiveStoreContext provider');
  return store;
}

/** The live state: report, cursor, connection. Re-renders on every change. */
export function useLiveAudit(): LiveSnapshot {
  const store = useLiveStore();
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** The connection's state and controls, as the plan's `useWebSocket` hook. */
export function useWebSocket() {
  const store = useLiveStore();
  const state = useLiveAudit();
  return {
    phase: state.phase,
    transport: state.transport,
    retryAt: state.retryAt,
    failures: state.failures,
    rttMs: state.rttMs,
    lastUpdateAt: state.lastUpdateAt,
    source: state.source,
    mode: state.mode,
    serverRealtime: state.serverRealtime,
    lastError: state.lastError,
    reconnect: () => store.reconnectNow(),
    setMode: (mode: Mode) => store.setMode(mode),
  };
}
