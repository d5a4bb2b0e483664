// The live store wired to the browser: WebSocket, EventSource, fetch, localStorage (the mode),
// IndexedDB (the last state), the clock, online/offline events and the tab link.
import { indexedDbSavedState } from './livePersistence';
import { createLiveStore } from './liveStore';
import type { LiveStore, LiveStoreConfig } from './liveStoreTypes';
import { browserTabLink } from './tabLeader';
import { decodeMessage, type EventSourceLike, type FetchLike, type WebSocketLike } from './transports';
import type { ServerMessage } from '../types/protocol';

/** An answer read once, for both of its takers. */
interface EarlyAnswer {
  status: number;
  body: string;
}

/**
 * The first snapshot `public/early.js` asked for before this bundle was even evaluated: the store
 * shows it at once (`firstSnapshot`), and the connection's first plain `GET /api/audit` takes the
 * same answer instead of asking again (`fetch`).
 */
function earlySnapshot(): { fetch: FetchLike; firstSnapshot: (() => Promise<ServerMessage | null>) | null } {
  const slot = window as { __gitopsEarlySnapshot?: Promise<Response> };
  const asked = slot.__gitopsEarlySnapshot;
  delete slot.__gitopsEarlySnapshot;
  const answer: Promise<EarlyAnswer> | null = asked ? asked.then(async (r) => ({ status: r.status, body: await r.text() })) : null;
  let fetchTook = false;
  const fetch: FetchLike = (input, init) => {
    // Only until the answer is taken: later requests go straight to the network.
    const plain = () => (init?.method ?? 'GET') === 'GET' && !new Headers(init?.headers).has('If-None-Match');
    if (answer && !fetchTook && plain() && new URL(input, window.location.href).pathname === '/api/audit') {
      fetchTook = true;
      return answer.then((a) => new Response(a.body, { status: a.status, headers: { 'Content-Type': 'application/json' } }));
    }
    return window.fetch(input, init);
  };
  const firstSnapshot = answer
    ? () =>
        answer.then(
          (a) => (a.status === 200 ? decodeMessage(a.body) : null),
          () => null,
        )
    : null;
  return { fetch, firstSnapshot };
}

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
    ...earlySnapshot(),
    storage,
    savedState: typeof indexedDB === 'object' && indexedDB ? indexedDbSavedState(indexedDB) : null,
    ...(typeof requestIdleCallback === 'function'
      ? { whenIdle: (callback: () => void) => void requestIdleCallback(callback, { timeout: 5_000 }) }
      : {}),
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
