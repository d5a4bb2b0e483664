import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { seededRandom } from './backoff';
import { createLiveStore, STORAGE_KEYS, type LiveStore, type LiveStoreConfig } from './liveStore';
import { memorySavedState } from './livePersistence';
import {
  authServer,
  EPOCH,
  FakeEventSourceServer,
  FakeSocketServer,
  memoryStorage,
  sampleReport,
  VIEWER_TOKEN,
  type AuthServerState,
} from '../test/fakes';
import { CLOSE_CODES } from '../types/protocol';

const BASE = 'http://dash.test:3070/';

let stores: LiveStore[] = [];

function harness(
  options: {
    server?: Partial<AuthServerState>;
    saved?: ReturnType<typeof memorySavedState>;
    config?: Partial<LiveStoreConfig>;
  } = {},
) {
  const sockets = new FakeSocketServer();
  const sources = new FakeEventSourceServer();
  const server = authServer(options.server);
  const saved = options.saved ?? memorySavedState();
  // The mark that says a state was saved, as the store leaves it beside the state.
  const storage = memoryStorage(saved.value ? { [STORAGE_KEYS.saved]: '1' } : {});
  const store = createLiveStore({
    baseUrl: BASE,
    createWebSocket: sockets.create,
    createEventSource: sources.create,
    fetch: server.fetch,
    storage,
    savedState: saved,
    random: seededRandom(7),
    now: () => Date.now(),
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    isOnline: () => true,
    checkSession: true,
    ...(options.config ? { config: options.config } : {}),
  });
  stores.push(store);
  return { store, sockets, sources, server, storage, saved };
}

const settle = () => vi.advanceTimersByTimeAsync(0);

/** A promise the test settles by hand. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function savedState() {
  return memorySavedState({ v: 1, cursor: `${EPOCH}:1`, report: sampleReport(), savedAt: Date.now() - 60_000 });
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
});

afterEach(() => {
  for (const store of stores) store.stop();
  stores = [];
  vi.useRealTimers();
});

describe('a server without viewer sign-in', () => {
  it('asks /api/session alongside the snapshot, then goes live as before', async () => {
    const h = harness({ server: { required: false } });
    h.store.start();
    expect(h.server.calls.map((c) => c.url.pathname).sort()).toEqual(['/api/audit', '/api/session']);
    expect(h.store.getSnapshot().access).toBe('checking');
    await settle();
    expect(h.store.getSnapshot().access).toBe('open');
    expect(h.sockets.sockets).toHaveLength(1);
    h.sockets.last.accept();
    expect(h.store.getSnapshot().phase).toBe('live');
    expect(h.store.getSnapshot().report?.repos).toHaveLength(3);
  });

  it('takes a 404 from an older server for "no sign-in"', async () => {
    const h = harness({ server: { absent: true, required: false } });
    h.store.start();
    await settle();
    expect(h.store.getSnapshot().access).toBe('open');
    expect(h.store.getSnapshot().session).toBeNull();
    expect(h.sockets.sockets).toHaveLength(1);
  });

  it('does not ask again when a socket fails after it was up', async () => {
    const h = harness({ server: { required: false } });
    h.store.start();
    await settle();
    h.sockets.last.accept();
    h.sockets.last.drop();
    await settle();
    expect(h.server.requests('/api/session')).toEqual(['GET /api/session']);
  });
});

describe('signing in', () => {
  it('shows nothing and connects nothing while the viewer is not signed in', async () => {
    const h = harness();
    h.store.start();
    await settle();
    const state = h.store.getSnapshot();
    expect(state.access).toBe('signed-out');
    expect(state.session?.required).toBe(true);
    expect(state.report).toBeNull();
    expect(h.sockets.sockets).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.sockets.sockets).toHaveLength(0);
    expect(h.server.calls.map((c) => c.url.pathname).sort()).toEqual(['/api/audit', '/api/session']);
  });

  it('does not open the socket of a remembered state before the server answered, and forgets that state when signed out', async () => {
    const hold = deferred();
    const h = harness({ saved: savedState(), server: { hold: hold.promise } });
    h.store.start();
    await settle();
    expect(h.store.getSnapshot().source).toBe('saved');
    expect(h.sockets.sockets).toHaveLength(0);
    hold.resolve();
    await settle();
    expect(h.sockets.sockets).toHaveLength(0);
    expect(h.store.getSnapshot().access).toBe('signed-out');
    expect(h.store.getSnapshot().report).toBeNull();
    expect(h.saved.value).toBeNull();
  });

  it('opens the remembered state socket once the server says the viewer is signed in', async () => {
    const h = harness({ saved: savedState(), server: { signedIn: true } });
    h.store.start();
    expect(h.sockets.sockets).toHaveLength(0);
    await settle();
    expect(h.store.getSnapshot().access).toBe('signed-in');
    expect(h.sockets.last.since()).toBe(`${EPOCH}:1`);
  });

  it('keeps the viewer signed out on a wrong token, and connects on the right one', async () => {
    const h = harness();
    h.store.start();
    await settle();
    const wrong = await h.store.signIn('not-the-token');
    expect(wrong).toMatchObject({ ok: false, reason: 'rejected' });
    expect(h.store.getSnapshot().access).toBe('signed-out');
    expect(h.sockets.sockets).toHaveLength(0);

    const right = await h.store.signIn(VIEWER_TOKEN);
    expect(right.ok).toBe(true);
    const post = h.server.calls.filter((c) => c.init?.method === 'POST').at(-1);
    expect(post?.init?.credentials).toBe('same-origin');
    expect(JSON.parse(String(post?.init?.body))).toEqual({ token: VIEWER_TOKEN });
    expect(h.store.getSnapshot().access).toBe('signed-in');
    await settle();
    expect(h.store.getSnapshot().report?.repos).toHaveLength(3);
    h.sockets.last.accept();
    expect(h.store.getSnapshot().phase).toBe('live');
    h.store.flush();
    const stored = [...h.storage.map.values(), JSON.stringify(h.saved.value)].join('\n');
    expect(stored).toContain('kitshn');
    expect(stored).not.toContain(VIEWER_TOKEN);
    expect(JSON.stringify(h.store.getSnapshot())).not.toContain(VIEWER_TOKEN);
  });

  it('passes on the Retry-After of a 429', async () => {
    const h = harness({ server: { retryAfterS: 42 } });
    h.store.start();
    await settle();
    expect(await h.store.signIn(VIEWER_TOKEN)).toMatchObject({ ok: false, reason: 'rate-limited', retryAfterS: 42 });
    expect(h.store.getSnapshot().access).toBe('signed-out');
  });

  it('signs out: closes the socket, forgets the data and stays disconnected', async () => {
    const h = harness({ server: { signedIn: true } });
    h.store.start();
    await settle();
    h.sockets.last.accept();
    h.store.flush();
    expect(h.saved.value).not.toBeNull();
    const result = await h.store.signOut();
    expect(result.ok).toBe(true);
    expect(h.server.requests('/api/session')).toContain('DELETE /api/session');
    const state = h.store.getSnapshot();
    expect(state.access).toBe('signed-out');
    expect(state.report).toBeNull();
    expect(h.sockets.last.closedByClient).not.toBeNull();
    expect(h.saved.value).toBeNull();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets.sockets).toHaveLength(1);
  });
});

describe('a session that ends while running', () => {
  async function live(h: ReturnType<typeof harness>) {
    h.store.start();
    await settle();
    h.sockets.last.accept();
    expect(h.store.getSnapshot().phase).toBe('live');
  }

  it('asks /api/session after a 4001 close and stops reconnecting when it says signed out', async () => {
    const h = harness({ server: { signedIn: true } });
    await live(h);
    h.server.state.signedIn = false;
    h.sockets.last.drop(CLOSE_CODES.sessionExpired, 'session expired: sign in again');
    expect(h.server.requests('/api/session')).toHaveLength(2);
    await settle();
    const state = h.store.getSnapshot();
    expect(state.access).toBe('session-ended');
    expect(state.report).toBeNull();
    expect(h.saved.value).toBeNull();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.sockets.sockets).toHaveLength(1);
  });

  it('asks when a socket fails to open, and waits for the answer before the next attempt', async () => {
    const h = harness({ server: { signedIn: true } });
    await live(h);
    h.sockets.last.drop();
    // A 1006 after being up is a network failure: the retry does not ask.
    expect(h.server.requests('/api/session')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync((h.store.getSnapshot().retryAt as number) - Date.now());
    expect(h.sockets.sockets).toHaveLength(2);

    const hold = deferred();
    h.server.state.hold = hold.promise;
    h.sockets.last.drop();
    expect(h.server.requests('/api/session')).toHaveLength(2);
    // The retry comes due while the answer is out: nothing opens.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets.sockets).toHaveLength(2);
    hold.resolve();
    await settle();
    expect(h.store.getSnapshot().access).toBe('signed-in');
    expect(h.sockets.sockets).toHaveLength(3);
    expect(h.sockets.last.since()).toBe(`${EPOCH}:1`);
  });

  it('carries on reconnecting when /api/session cannot be reached either', async () => {
    const h = harness({ server: { signedIn: true } });
    await live(h);
    h.server.state.hold = Promise.reject(new TypeError('Failed to fetch'));
    h.server.state.hold.catch(() => {});
    h.sockets.last.drop();
    await vi.advanceTimersByTimeAsync((h.store.getSnapshot().retryAt as number) - Date.now());
    h.sockets.last.drop();
    await settle();
    expect(h.store.getSnapshot().access).toBe('signed-in');
    await vi.advanceTimersByTimeAsync((h.store.getSnapshot().retryAt as number) - Date.now());
    expect(h.sockets.sockets).toHaveLength(3);
    expect(h.store.getSnapshot().phase).toBe('reconnecting');
  });

  it('asks after a polling request answered 401', async () => {
    const h = harness({ server: { signedIn: true } });
    await live(h);
    h.store.setMode({ kind: 'polling', intervalS: 5 });
    await settle();
    expect(h.store.getSnapshot().phase).toBe('polling');
    h.server.state.signedIn = false;
    await vi.advanceTimersByTimeAsync(5_000);
    await settle();
    expect(h.store.getSnapshot().access).toBe('session-ended');
    const audits = h.server.requests('/api/audit').length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.server.requests('/api/audit')).toHaveLength(audits);
  });

  it('asks after a long-poll request answered 401', async () => {
    const h = harness({ server: { signedIn: true }, config: { failuresBeforeFallback: 1, fallbacks: ['long-poll'] } });
    await live(h);
    h.sockets.last.drop();
    await settle();
    expect(h.store.getSnapshot().transport).toBe('long-poll');
    h.server.state.signedIn = false;
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(h.server.requests('/api/updates').length).toBeGreaterThan(0);
    expect(h.store.getSnapshot().access).toBe('session-ended');
  });

  it('asks when the SSE stream gives up, before moving on to the next fallback', async () => {
    const h = harness({ server: { signedIn: true }, config: { failuresBeforeFallback: 1, fallbacks: ['sse', 'long-poll'] } });
    await live(h);
    h.sockets.last.drop();
    await settle();
    expect(h.sources.sources).toHaveLength(1);
    h.sources.sources[0]?.open();
    expect(h.store.getSnapshot().transport).toBe('sse');
    h.server.state.signedIn = false;
    h.sources.sources[0]?.fail(true);
    await settle();
    expect(h.store.getSnapshot().access).toBe('session-ended');
    expect(h.server.requests('/api/updates')).toHaveLength(0);
  });
});
