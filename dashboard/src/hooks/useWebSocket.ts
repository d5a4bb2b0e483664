// The connection hooks. The live store (lib/liveStore.ts) owns the connection; these read it with
// useSyncExternalStore. `useLiveStore(selector)` re-renders only when the selected part changes
// (a ping changes the round trip, not the report: the dashboard does not render again for it).
// `useWebSocket` keeps the name the plan gives the connection hook.
import { createContext, useContext, useRef, useSyncExternalStore } from 'react';
import type { LiveSnapshot, LiveStore, Mode } from '../lib/liveStore';

/** The store the app runs on; the app provides it, tests provide one on fakes. */
export const LiveStoreContext = createContext<LiveStore | null>(null);

/** Whether two values are equal field by field (one level deep, each field by `Object.is`). */
export function shallowEqual<T>(a: T, b: T): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const keys = Object.keys(a) as Array<keyof T>;
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.prototype.hasOwnProperty.call(b, key) && Object.is(a[key], b[key]));
}

/** The store itself (for actions and status-change subscriptions). */
export function useLiveStore(): LiveStore;
/**
 * A part of the live state: re-renders only when `selector`'s result changes by `equal`
 * (`Object.is` by default; `shallowEqual` for an object of fields).
 */
export function useLiveStore<T>(selector: (snapshot: LiveSnapshot) => T, equal?: (a: T, b: T) => boolean): T;
export function useLiveStore<T>(selector?: (snapshot: LiveSnapshot) => T, equal: (a: T, b: T) => boolean = Object.is): LiveStore | T {
  const store = useContext(LiveStoreContext);
  if (!store) throw new Error('useLiveStore needs a LiveStoreContext provider');
  // The last selection and the snapshot it came from: the same snapshot, or an equal selection,
  // gives the same value back, so useSyncExternalStore sees no change and the component skips.
  const last = useRef<{ snapshot: LiveSnapshot; value: T } | null>(null);
  const select = (): T | null => {
    if (!selector) return null;
    const snapshot = store.getSnapshot();
    const previous = last.current;
    if (previous && previous.snapshot === snapshot) return previous.value;
    const value = selector(snapshot);
    const kept = previous && equal(previous.value, value) ? previous.value : value;
    last.current = { snapshot, value: kept };
    return kept;
  };
  const selected = useSyncExternalStore(store.subscribe, select, select);
  return selector ? (selected as T) : store;
}

/** The whole live state: report, cursor, connection. Re-renders on every change. */
export function useLiveAudit(): LiveSnapshot {
  return useLiveStore((snapshot) => snapshot);
}

/**
 * The connection as the header shows it, and its controls (the plan's `useWebSocket` hook). It
 * renders again for a ping (the round trip), not for the report or an error message.
 */
export function useWebSocket() {
  const store = useLiveStore();
  const state = useLiveStore(
    (s) => ({
      phase: s.phase,
      transport: s.transport,
      retryAt: s.retryAt,
      rttMs: s.rttMs,
      lastUpdateAt: s.lastUpdateAt,
      source: s.source,
      mode: s.mode,
      serverRealtime: s.serverRealtime,
    }),
    shallowEqual,
  );
  return { ...state, reconnect: () => store.reconnectNow(), setMode: (mode: Mode) => store.setMode(mode) };
}
