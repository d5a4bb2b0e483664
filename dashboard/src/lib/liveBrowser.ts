// The live store wired to the browser: WebSocket, EventSource, fetch, localStorage (the mode),
// IndexedDB (the last state), the clock, online/offline events and the tab link.
import { indexedDbSavedState } from './livePersistence';
import { createLiveStore } from './liveStore';
import type { LiveStore, LiveStoreConfig } from './liveStoreTypes';
import { browserTabLink } from './tabLeader';
import type { EventSourceLike, WebSocketLike } from './transports';

/** The store for this page. */
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
    savedState: typeof indexedDB === 'object' && indexedDB ? indexedDbSavedState(indexedDB) : null,
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
