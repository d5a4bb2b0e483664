import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, seededRandom } from './backoff';
import { createLiveStore, STORAGE_KEYS, type LiveStore, type LiveStoreConfig } from './liveStore';
import { memorySavedState } from './livePersistence';
import type { StatusChange } from './report';
import {
  clockDeps,
  auditUpdate,
  EPOCH,
  FakeEventSourceServer,
  FakeSocketServer,
  json,
  memoryStorage,
  sampleReport,
  scriptedFetch,
} from '../test/fakes';
import type { ConnectionStatus, Report, ServerMessage } from '../types/protocol';
import { CLOSE_CODES, formatRetryReason } from '../types/protocol';

const BASE = 'http://dash.test:3070/';

interface Harness {
  store: LiveStore;
  sockets: FakeSocketServer;
  sources: FakeEventSourceServer;
  calls: ReturnType<typeof scriptedFetch>['calls'];
  storage: ReturnType<typeof memoryStorage>;
  saved: ReturnType<typeof memorySavedState>;
  setOnline(online: boolean): void;
}

interface HarnessOptions {
  answer?: (url: URL, init: RequestInit | undefined) => Response | Promise<Response>;
  storage?: ReturnType<typeof memoryStorage>;
  saved?: ReturnType<typeof memorySavedState>;
  seed?: number;
  config?: Partial<LiveStoreConfig>;
}

let stores: LiveStore[] = [];

function harness(options: HarnessOptions = {}): Harness {
  const sockets = new FakeSocketServer();
  const sources = new FakeEventSourceServer();
  const { fetch, calls } = scriptedFetch(
    options.answer ??
      ((url) => {
        if (url.pathname === '/api/audit') return json(auditUpdate(1), { headers: { ETag: `"${EPOCH}:1"` } });
        return new Response('not found', { status: 404 });
      }),
  );
  const storage = options.storage ?? memoryStorage();
  const saved = options.saved ?? memorySavedState();
  let online = true;
  let networkListener: ((online: boolean) => void) | null = null;
  const store = createLiveStore({
    baseUrl: BASE,
    createWebSocket: sockets.create,
    createEventSource: sources.create,
    fetch,
    storage,
    savedState: saved,
    random: seededRandom(options.seed ?? 1),
    now: () => Date.now(),
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    isOnline: () => online,
    watchNetwork: (listener) => {
      networkListener = listener;
      return () => {
        networkListener = null;
      };
    },
    ...(options.config ? { config: options.config } : {}),
  });
  stores.push(store);
  return {
    store,
    sockets,
    sources,
    calls,
    storage,
    saved,
    setOnline(value) {
      online = value;
      networkListener?.(value);
    },
  };
}

/** Starts the store, lets the snapshot fetch land and the socket open. */
async function startLive(h: Harness) {
  h.store.start();
  await vi.advanceTimersByTimeAsync(0);
  h.sockets.last.accept();
  return h.sockets.last;
}

function change(seq: number, name: string, status: string, epoch = EPOCH): ServerMessage {
  return {
    type: 'repo-status-change',
    epoch,
    seq,
    data: { name, change: 'changed', new_status: status, ops: [{ op: 'replace', path: '/status', value: status }] },
  };
}

const statusOf = (store: LiveStore, name: string) => store.getSnapshot().report?.repos.find((r) => r.name === name)?.status;

function connectionStatus(overrides: Partial<ConnectionStatus> = {}): ServerMessage {
  return {
    type: 'connection-status',
    data: {
      server_time: '2026-01-01T00:00:00Z',
      uptime_s: 10,
      realtime: true,
      clients: { ws: 1, sse: 0, long_poll: 0 },
      cursor: `${EPOCH}:1`,
      report: { path: '/r.json', state: 'ok', last_loaded: null, last_error: null, watch: 'watching', watch_note: null },
      ...overrides,
    },
  };
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

describe('first data', () => {
  it('fetches the snapshot over HTTP, then opens /ws from its cursor', async () => {
    const h = harness();
    h.store.start();
    expect(h.store.getSnapshot().phase).toBe('connecting');
    await vi.advanceTimersByTimeAsync(0);
    expect(h.calls.map((c) => c.url.pathname)).toEqual(['/api/audit']);
    expect(h.store.getSnapshot().report?.repos).toHaveLength(3);
    expect(h.store.getSnapshot().cursor).toBe(`${EPOCH}:1`);
    expect(h.sockets.sockets).toHaveLength(1);
    expect(h.sockets.last.url).toBe(`ws://dash.test:3070/ws?since=${EPOCH}:1`);
    h.sockets.last.accept();
    expect(h.store.getSnapshot().phase).toBe('live');
    expect(h.store.getSnapshot().transport).toBe('websocket');
  });

  it('uses wss: on an https page', async () => {
    const sockets = new FakeSocketServer();
    const { fetch } = scriptedFetch(() => json(auditUpdate(1)));
    const store = createLiveStore({
      baseUrl: 'https://secure.test/audit/halo?action=clone',
      createWebSocket: sockets.create,
      createEventSource: null,
      fetch,
      storage: null,
      ...clockDeps(),
    });
    stores.push(store);
    store.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets.last.url).toBe(`wss://secure.test/ws?since=${EPOCH}:1`);
  });

  it('shows the early snapshot before the tab knows whether it holds the connection', async () => {
    const { fetch, calls } = scriptedFetch(() => json(auditUpdate(9)));
    const sockets = new FakeSocketServer();
    // A lock that is never granted: this tab stays a follower with no leader answering.
    const tabs = { id: 't1', role: () => 'follower' as const, start() {}, post() {}, stop() {} };
    const make = (firstSnapshot: (() => Promise<ServerMessage | null>) | null) => {
      const store = createLiveStore({
        baseUrl: BASE,
        createWebSocket: sockets.create,
        createEventSource: null,
        fetch,
        storage: null,
        ...clockDeps(),
        tabs,
        firstSnapshot,
      });
      stores.push(store);
      store.start();
      return store;
    };
    const without = make(null);
    const early = make(() => Promise.resolve(auditUpdate(4)));
    await vi.advanceTimersByTimeAsync(0);
    expect(without.getSnapshot().report).toBeNull();
    expect(early.getSnapshot().report?.repos).toHaveLength(3);
    expect(early.getSnapshot().cursor).toBe(`${EPOCH}:4`);
    expect(calls).toHaveLength(0);
    expect(sockets.sockets).toHaveLength(0);
  });

  it('opens the socket without a cursor when the snapshot fetch fails, and takes its audit-update', async () => {
    const h = harness({ answer: () => new Response('', { status: 503 }) });
    h.store.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.sockets.last.since()).toBeNull();
    h.sockets.last.accept();
    h.sockets.last.push(auditUpdate(7));
    expect(h.store.getSnapshot().cursor).toBe(`${EPOCH}:7`);
  });
});

describe('client rules', () => {
  it('applies seq = cursor + 1 and advances the cursor', async () => {
    const h = harness();
    const socket = await startLive(h);
    socket.push(change(2, 'halo', 'clean'));
    expect(statusOf(h.store, 'halo')).toBe('clean');
    expect(h.store.getSnapshot().cursor).toBe(`${EPOCH}:2`);
  });

  it('ignores what it already applied', async () => {
    const h = harness();
    const socket = await startLive(h);
    socket.push(change(2, 'halo', 'clean'));
    socket.push(change(2, 'halo', 'dirty'));
    socket.push(change(1, 'halo', 'extra'));
    expect(statusOf(h.store, 'halo')).toBe('clean');
    expect(h.store.getSnapshot().cursor).toBe(`${EPOCH}:2`);
    expect(socket.messages().filter((m) => m.type === 'resume')).toEqual([]);
  });

  it('sends resume with its cursor on a gap and applies nothing', async () => {
    const h = harness();
    const socket = await startLive(h);
    const before = h.store.getSnapshot().report;
    socket.push(change(3, 'halo', 'clean'));
    expect(h.store.getSnapshot().report).toBe(before);
    expect(h.store.getSnapshot().cursor).toBe(`${EPOCH}:1`);
    expect(socket.messages().filter((m) => m.type === 'resume')).toEqual([{ type: 'resume', since: `${EPOCH}:1` }]);
    // Further gaps while the answer is on its way do not repeat the request.
    socket.push(change(4, 'halo', 'clean'));
    expect(socket.messages().filter((m) => m.type === 'resume')).toHaveLength(1);
    // The answer: the missed messages in order.
    socket.push(change(2, 'kitshn', 'dirty'));
    socket.push(change(3, 'halo', 'clean'));
    expect(h.store.getSnapshot().cursor).toBe(`${EPOCH}:3`);
    expect(statusOf(h.store, 'halo')).toBe('clean');
    expect(statusOf(h.store, 'kitshn')).toBe('dirty');
  });

  it('sends resume for a message from another epoch, and takes the snapshot that answers it', async () => {
    const h = harness();
    const socket = await startLive(h);
    socket.push(change(1, 'halo', 'clean', '00000000000000aa'));
    expect(socket.messages().filter((m) => m.type === 'resume')).toEqual([{ type: 'resume', since: `${EPOCH}:1` }]);
    const fresh = sampleReport();
    fresh.repos = fresh.repos.slice(0, 1);
    socket.push(auditUpdate(5, fresh, '00000000000000aa'));
    expect(h.store.getSnapshot().cursor).toBe('00000000000000aa:5');
    expect(h.store.getSnapshot().report?.repos).toHaveLength(1);
  });

  it('applies a catch-up from its cursor, and resumes on one from elsewhere', async () => {
    const h = harness();
    const socket = await startLive(h);
    socket.push({
      type: 'catch-up',
      epoch: EPOCH,
      seq: 9,
      data: { since: `${EPOCH}:0`, repos: [], meta: null },
    });
    expect(h.store.getSnapshot().cursor).toBe(`${EPOCH}:1`);
    expect(socket.messages().filter((m) => m.type === 'resume')).toHaveLength(1);
    vi.advanceTimersByTime(5_000);
    socket.push({
      type: 'catch-up',
      epoch: EPOCH,
      seq: 9,
      data: {
        since: `${EPOCH}:1`,
        repos: [
          { name: 'halo', change: 'changed', ops: [{ op: 'replace', path: '/status', value: 'clean' }] },
          { name: 'new', change: 'added', repo: { name: 'new', status: 'extra' } },
        ],
        meta: { health_status: 'yellow' },
      },
    });
    const state = h.store.getSnapshot();
    expect(state.cursor).toBe(`${EPOCH}:9`);
    expect(statusOf(h.store, 'halo')).toBe('clean');
    expect(statusOf(h.store, 'new')).toBe('extra');
    expect(state.report?.health_status).toBe('yellow');
    expect(state.report?.summary).toBeDefined(); // not named in the meta, so unchanged
  });

  it('merges the changed top-level fields on health-metrics-update', async () => {
    const h = harness();
    const socket = await startLive(h);
    const before = h.store.getSnapshot().report as Report;
    socket.push({
      type: 'health-metrics-update',
      epoch: EPOCH,
      seq: 2,
      data: { health_status: 'green', timestamp: 'T', summary: null as unknown as undefined },
    });
    const report = h.store.getSnapshot().report as Report;
    expect(report.health_status).toBe('green');
    expect(report.timestamp).toBe('T');
    expect(report.summary).toBeUndefined(); // null removes a field
    expect(report.mitigation_actions).toEqual(before.mitigation_actions); // not named: unchanged
    expect(report.repos).toHaveLength(3);
  });

  it('asks for a fresh snapshot when a patch does not apply', async () => {
    const h = harness();
    const socket = await startLive(h);
    socket.push({
      type: 'repo-status-change',
      epoch: EPOCH,
      seq: 2,
      data: { name: 'ghost', change: 'changed', ops: [{ op: 'replace', path: '/status', value: 'clean' }] },
    });
    expect(h.store.getSnapshot().cursor).toBe(`${EPOCH}:1`);
    expect(socket.messages().filter((m) => m.type === 'request-update')).toHaveLength(1);
    expect(h.store.getSnapshot().lastError).toMatch(/ghost/);
  });

  it('announces status changes and highlights changed repositories', async () => {
    const h = harness();
    const socket = await startLive(h);
    const heard: StatusChange[][] = [];
    h.store.subscribeStatusChanges((changes) => heard.push(changes));
    socket.push(change(2, 'halo', 'clean'));
    expect(heard).toEqual([[expect.objectContaining({ name: 'halo', from: 'missing', to: 'clean' })]]);
    expect(Object.keys(h.store.getSnapshot().changedAt)).toEqual(['halo\u00000']);
    // A later change prunes highlights that have expired.
    vi.advanceTimersByTime(3_000);
    socket.push(change(3, 'kitshn', 'dirty'));
    expect(Object.keys(h.store.getSnapshot().changedAt)).toEqual(['kitshn\u00000']);
  });

  it('keeps the server status and reports errors', async () => {
    const h = harness();
    const socket = await startLive(h);
    socket.push(
      connectionStatus({
        report: {
          path: '/r.json',
          state: 'error',
          last_loaded: null,
          last_error: { message: 'bad json at line 3', since: '2026-01-01T00:00:00Z' },
          watch: 'polling',
          watch_note: 'inotify limit',
        },
      }),
    );
    expect(h.store.getSnapshot().serverStatus?.report.state).toBe('error');
    socket.push({ type: 'error', data: { code: 'unknown-type', message: 'what is this' } });
    expect(h.store.getSnapshot().lastError).toBe('unknown-type: what is this');
  });
});

describe('ping', () => {
  it('pings on open and every interval, and measures the round trip from the pong', async () => {
    const h = harness();
    const socket = await startLive(h);
    const pings = () => socket.messages().filter((m) => m.type === 'ping');
    expect(pings()).toHaveLength(1);
    const ts = pings()[0]?.ts as number;
    vi.advanceTimersByTime(37);
    socket.push({ type: 'pong', data: { ts, server_time: 'now' } });
    expect(h.store.getSnapshot().rttMs).toBe(37);
    vi.advanceTimersByTime(15_000);
    expect(pings()).toHaveLength(2);
  });

  it('takes a silent socket for dead and reconnects', async () => {
    const h = harness();
    await startLive(h);
    vi.advanceTimersByTime(45_000);
    expect(h.sockets.last.closedByClient).not.toBeNull();
    expect(h.store.getSnapshot().phase).toBe('reconnecting');
  });
});

describe('reconnect', () => {
  it('follows the full-jitter backoff schedule for the seeded randomness, resuming with the cursor', async () => {
    const h = harness({ seed: 99 });
    const socket = await startLive(h);
    socket.push(change(2, 'halo', 'clean'));
    const expected = seededRandom(99);
    const delays: number[] = [];
    socket.drop();
    // Two failures in a row (fewer than the fallback threshold), then success.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const state = h.store.getSnapshot();
      expect(state.phase).toBe('reconnecting');
      const delay = (state.retryAt as number) - Date.now();
      delays.push(delay);
      const before = h.sockets.sockets.length;
      vi.advanceTimersByTime(delay - 1);
      expect(h.sockets.sockets).toHaveLength(before);
      vi.advanceTimersByTime(1);
      expect(h.sockets.sockets).toHaveLength(before + 1);
      expect(h.sockets.last.since()).toBe(`${EPOCH}:2`);
      if (attempt === 0) h.sockets.last.drop();
    }
    expect(delays).toEqual([backoffDelay(0, expected), backoffDelay(1, expected)]);
    h.sockets.last.accept();
    expect(h.store.getSnapshot().phase).toBe('live');
    // Nothing was missed: the server sends nothing and the store needed no snapshot.
    expect(h.calls.filter((c) => c.url.pathname === '/api/audit')).toHaveLength(1);
  });

  it('waits the delay a 1001 close asks for', async () => {
    const h = harness();
    const socket = await startLive(h);
    socket.drop(CLOSE_CODES.goingAway, formatRetryReason(4321));
    expect((h.store.getSnapshot().retryAt as number) - Date.now()).toBe(4321);
  });

  it('reconnects at once after a 4000 (stalled) close', async () => {
    const h = harness();
    const socket = await startLive(h);
    socket.drop(CLOSE_CODES.stalled, 'stalled: resume with your cursor');
    vi.advanceTimersByTime(0);
    expect(h.sockets.sockets).toHaveLength(2);
  });

  it('reconnects now on request, forgetting the backoff', async () => {
    const h = harness();
    const socket = await startLive(h);
    socket.drop();
    expect(h.sockets.sockets).toHaveLength(1);
    h.store.reconnectNow();
    expect(h.sockets.sockets).toHaveLength(2);
    expect(h.store.getSnapshot().failures).toBe(0);
  });

  it('says offline while the browser is offline and reconnects when it is back', async () => {
    const h = harness();
    const socket = await startLive(h);
    h.setOnline(false);
    socket.drop();
    expect(h.store.getSnapshot().phase).toBe('offline');
    h.setOnline(true);
    expect(h.sockets.sockets).toHaveLength(2);
  });
});

describe('fallback', () => {
  async function failSocketTimes(h: Harness, n: number) {
    for (let i = 0; i < n; i += 1) {
      h.sockets.last.drop();
      const retryAt = h.store.getSnapshot().retryAt as number;
      await vi.advanceTimersByTimeAsync(Math.max(0, retryAt - Date.now()));
    }
  }

  it('moves to SSE after three socket failures, keeps retrying the socket and switches back', async () => {
    const h = harness();
    await startLive(h);
    await failSocketTimes(h, 2);
    expect(h.sources.sources).toHaveLength(0);
    h.sockets.last.drop();
    expect(h.sources.sources).toHaveLength(1);
    const source = h.sources.sources[0]!;
    expect(new URL(source.url).pathname).toBe('/api/events');
    expect(new URL(source.url).searchParams.get('since')).toBe(`${EPOCH}:1`);
    source.open();
    expect(h.store.getSnapshot().phase).toBe('fallback');
    expect(h.store.getSnapshot().transport).toBe('sse');
    source.push(change(2, 'halo', 'clean'));
    expect(statusOf(h.store, 'halo')).toBe('clean');
    // The socket is retried in the background, from the newest cursor.
    const retryAt = h.store.getSnapshot().retryAt as number;
    await vi.advanceTimersByTimeAsync(retryAt - Date.now());
    expect(h.sockets.last.since()).toBe(`${EPOCH}:2`);
    h.sockets.last.accept();
    expect(source.closed).toBe(true);
    expect(h.store.getSnapshot().phase).toBe('live');
    expect(h.store.getSnapshot().transport).toBe('websocket');
  });

  it('goes on to long-poll when SSE fails, then to polling when long-poll fails', async () => {
    let longPolls = 0;
    const h = harness({
      answer: (url) => {
        if (url.pathname === '/api/audit') return json(auditUpdate(1), { headers: { ETag: `"${EPOCH}:1"` } });
        if (url.pathname === '/api/updates') {
          longPolls += 1;
          if (longPolls === 1) return json([change(2, 'halo', 'clean')]);
          return new Response('', { status: 502 });
        }
        return new Response('', { status: 404 });
      },
    });
    await startLive(h);
    await failSocketTimes(h, 2);
    h.sockets.last.drop();
    h.sources.sources[0]!.fail();
    await vi.advanceTimersByTimeAsync(0);
    const updates = h.calls.filter((c) => c.url.pathname === '/api/updates');
    expect(updates[0]?.url.searchParams.get('since')).toBe(`${EPOCH}:1`);
    expect(updates[1]?.url.searchParams.get('since')).toBe(`${EPOCH}:2`);
    expect(statusOf(h.store, 'halo')).toBe('clean');
    // The second long-poll failed: polling /api/audit with If-None-Match. (This fake answers an
    // older snapshot, which the store must not go back to.)
    await vi.advanceTimersByTimeAsync(0);
    expect(statusOf(h.store, 'halo')).toBe('clean');
    const polls = h.calls.filter((c) => c.url.pathname === '/api/audit');
    const last = polls.at(-1);
    expect(new Headers(last?.init?.headers).get('If-None-Match')).toBe(`"${EPOCH}:2"`);
  });

  it('polls with If-None-Match and takes 304 as current', async () => {
    let polls = 0;
    const h = harness({
      answer: (url) => {
        if (url.pathname === '/api/audit') {
          polls += 1;
          if (polls === 1) return json(auditUpdate(1));
          return new Response(null, { status: 304 });
        }
        return new Response('', { status: 404 });
      },
      config: { fallbacks: ['polling'] },
    });
    await startLive(h);
    await failSocketTimes(h, 2);
    h.sockets.last.drop();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.store.getSnapshot().phase).toBe('fallback');
    expect(h.store.getSnapshot().transport).toBe('polling');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(polls).toBe(3);
    expect(h.store.getSnapshot().cursor).toBe(`${EPOCH}:1`);
  });

  it('says offline when every transport fails', async () => {
    const h = harness({ answer: () => Promise.reject(new TypeError('connection refused')) });
    h.store.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.store.getSnapshot().phase).toBe('connecting');
    await failSocketTimes(h, 2);
    h.sockets.last.drop();
    h.sources.sources[0]!.fail();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.store.getSnapshot().phase).toBe('offline');
    expect(h.store.getSnapshot().retryAt).not.toBeNull();
  });
});

describe('polling mode', () => {
  it('polls at the chosen interval without a socket, and remembers the choice', async () => {
    const h = harness();
    h.store.start();
    await vi.advanceTimersByTimeAsync(0);
    h.sockets.last.accept();
    h.store.setMode({ kind: 'polling', intervalS: 30 });
    expect(h.sockets.last.closedByClient).not.toBeNull();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.store.getSnapshot().phase).toBe('polling');
    const audits = () => h.calls.filter((c) => c.url.pathname === '/api/audit').length;
    const before = audits();
    await vi.advanceTimersByTimeAsync(29_999);
    expect(audits()).toBe(before);
    await vi.advanceTimersByTimeAsync(1);
    expect(audits()).toBe(before + 1);
    expect(h.sockets.sockets).toHaveLength(1);
    expect(JSON.parse(h.storage.getItem(STORAGE_KEYS.mode) as string)).toEqual({ kind: 'polling', intervalS: 30 });

    const again = harness({ storage: h.storage });
    again.store.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(again.store.getSnapshot().mode).toEqual({ kind: 'polling', intervalS: 30 });
    expect(again.sockets.sockets).toHaveLength(0);
  });

  it('announces status changes it sees between polls', async () => {
    let version = 1;
    const h = harness({
      answer: () => {
        const report = sampleReport();
        if (version > 1) report.repos[0]!.status = 'clean';
        return json(auditUpdate(version, report));
      },
    });
    h.store.setMode({ kind: 'polling', intervalS: 5 });
    h.store.start();
    await vi.advanceTimersByTimeAsync(0);
    const heard: StatusChange[][] = [];
    h.store.subscribeStatusChanges((changes) => heard.push(changes));
    version = 2;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(heard).toEqual([[expect.objectContaining({ name: 'halo', from: 'missing', to: 'clean' })]]);
  });

  it('polls while the server has real-time off, and goes live when it is back on', async () => {
    let realtime = false;
    const h = harness({
      answer: (url) => {
        if (url.pathname === '/api/ws/status') return json(connectionStatus({ realtime }));
        return json(auditUpdate(1));
      },
      config: { statusPollMs: 1_000 },
    });
    const socket = await startLive(h);
    socket.push(connectionStatus({ realtime: false }));
    expect(socket.closedByClient).not.toBeNull();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.store.getSnapshot().phase).toBe('polling');
    realtime = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.sockets.sockets).toHaveLength(2);
  });
});

describe('server status over HTTP', () => {
  it('reads /api/ws/status after the first socket failure and polls when real-time is off', async () => {
    const h = harness({
      answer: (url) => {
        if (url.pathname === '/api/ws/status') return json(connectionStatus({ realtime: false }));
        return json(auditUpdate(1));
      },
    });
    h.store.start();
    await vi.advanceTimersByTimeAsync(0);
    h.sockets.last.drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.calls.some((c) => c.url.pathname === '/api/ws/status')).toBe(true);
    expect(h.store.getSnapshot().serverRealtime).toBe(false);
    expect(h.store.getSnapshot().phase).toBe('polling');
    // No more socket attempts while the server has real-time off.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets.sockets).toHaveLength(1);
  });
});

describe('remembered state', () => {
  it('shows the last state at once and resumes from its cursor without a snapshot', async () => {
    const first = harness();
    const socket = await startLive(first);
    socket.push(change(2, 'halo', 'clean'));
    await vi.advanceTimersByTimeAsync(1_000);
    first.store.stop();

    const second = harness({ storage: first.storage, saved: first.saved });
    second.store.start();
    // The saved state is read (from IndexedDB in the browser) before anything connects.
    expect(second.sockets.sockets).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(0);
    const state = second.store.getSnapshot();
    expect(state.source).toBe('saved');
    expect(state.cursor).toBe(`${EPOCH}:2`);
    expect(statusOf(second.store, 'halo')).toBe('clean');
    expect(second.calls).toHaveLength(0);
    expect(second.sockets.last.since()).toBe(`${EPOCH}:2`);
    second.sockets.last.accept();
    // The server is at the same cursor: it sends nothing but its status, which confirms the state.
    second.sockets.last.push(connectionStatus({ cursor: `${EPOCH}:2` }));
    expect(second.store.getSnapshot().source).toBe('server');
  });

  it('shows the saved state, still marked saved, when the server cannot be reached at load, until it answers', async () => {
    const saved = memorySavedState({ v: 1, cursor: `${EPOCH}:4`, report: sampleReport(), savedAt: Date.now() - 180_000 });
    // No mark in localStorage (another browser profile's rules, a cleared key): the snapshot is asked for at once.
    const h = harness({ saved, answer: () => Promise.reject(new TypeError('Failed to fetch')) });
    h.store.start();
    await vi.advanceTimersByTimeAsync(0);
    h.sockets.last.drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    let state = h.store.getSnapshot();
    expect(state.source).toBe('saved');
    expect(state.phase).toBe('reconnecting');
    expect(state.lastUpdateAt).toBe(Date.now() - 180_000);
    expect(state.report?.repos).toHaveLength(3);
    // The next socket resumes from the saved cursor; the server's snapshot replaces the saved state.
    await vi.advanceTimersByTimeAsync((state.retryAt ?? Date.now()) - Date.now());
    expect(h.sockets.last.since()).toBe(`${EPOCH}:4`);
    h.sockets.last.accept();
    h.sockets.last.push(auditUpdate(9));
    state = h.store.getSnapshot();
    expect(state.source).toBe('server');
    expect(state.phase).toBe('live');
  });

  it('ignores a damaged saved state', async () => {
    const saved = memorySavedState({ v: 1, cursor: 'nope', report: {}, savedAt: 0 });
    const h = harness({ saved });
    h.store.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.store.getSnapshot().source).toBe('server');
    expect(h.calls.map((c) => c.url.pathname)).toEqual(['/api/audit']);
  });

  it('writes the state at most once per quiet period, and removes a state left in localStorage', async () => {
    const storage = memoryStorage({ [STORAGE_KEYS.state]: '{"v":1}' });
    const h = harness({ storage });
    const writes: unknown[] = [];
    const save = h.saved.save;
    h.saved.save = async (state) => (writes.push(state), save(state));
    const socket = await startLive(h);
    expect(storage.map.has(STORAGE_KEYS.state)).toBe(false);
    socket.push(change(2, 'halo', 'clean'));
    socket.push(change(3, 'halo', 'dirty'));
    expect(writes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(writes).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatchObject({ v: 1, cursor: `${EPOCH}:3`, savedAt: Date.now() });
    h.store.flush();
    expect(writes).toHaveLength(1); // nothing new since
    socket.push(change(4, 'halo', 'clean'));
    h.store.flush();
    expect(writes).toHaveLength(2);
  });
});
