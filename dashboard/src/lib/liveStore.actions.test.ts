import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { seededRandom } from './backoff';
import { createLiveStore, type LiveStore } from './liveStore';
import { auditUpdate, EPOCH, FakeSocketServer, json, memoryStorage, scriptedFetch } from '../test/fakes';
import { operatorSession, signedInSession } from '../test/store';
import type { ActionLogEntry, ActionStatus, Session } from '../types/protocol';

const BASE = 'http://dash.test:3070/';
let stores: LiveStore[] = [];

const done = (id: number): ActionLogEntry => ({
  id,
  who: 'operator',
  action: 'clone',
  repo: 'halo',
  dry_run: false,
  result: 'done',
  error_class: null,
  summary: 'cloned halo',
  output: '',
  started_at: '2026-01-01T00:00:00Z',
  ended_at: '2026-01-01T00:00:03Z',
});

function harness(session: Session) {
  const sockets = new FakeSocketServer();
  const server = scriptedFetch((url) => {
    if (url.pathname === '/api/session') return json(session);
    if (url.pathname === '/api/audit') return json(auditUpdate(1), { headers: { ETag: `"${EPOCH}:1"` } });
    if (url.pathname === '/api/actions') return json({ actions: [done(41)], next: null });
    return new Response('not found', { status: 404 });
  });
  const store = createLiveStore({
    baseUrl: BASE,
    createWebSocket: sockets.create,
    createEventSource: null,
    fetch: server.fetch,
    storage: memoryStorage(),
    random: seededRandom(3),
    now: () => Date.now(),
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    isOnline: () => true,
    checkSession: true,
  });
  stores.push(store);
  const logReads = () => server.calls.filter((c) => c.url.pathname === '/api/actions').map((c) => c.url.search);
  return { store, sockets, server, logReads };
}

const settle = () => vi.advanceTimersByTimeAsync(0);

const status = (id: number, state: ActionStatus['state']): ActionStatus => ({
  id,
  action: 'commit',
  repo: 'esphome',
  who: 'operator',
  state,
  summary: state === 'done' ? 'committed 1 file' : '',
  at: '2026-01-01T00:00:01Z',
});

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
});

afterEach(() => {
  for (const store of stores) store.stop();
  stores = [];
  vi.useRealTimers();
});

describe('action statuses in the live store', () => {
  it('keeps the last action-status per id and tells listeners, without touching the report or cursor', async () => {
    const { store, sockets } = harness(operatorSession());
    const heard: string[] = [];
    store.subscribeActionStatus((s) => heard.push(`${s.id} ${s.state}`));
    store.start();
    await settle();
    sockets.last.accept();
    await settle();
    const cursor = store.getSnapshot().cursor;
    sockets.last.push({ type: 'action-status', data: status(42, 'running') });
    expect(store.getSnapshot().actions[42]?.state).toBe('running');
    sockets.last.push({ type: 'action-status', data: status(42, 'done') });
    expect(store.getSnapshot().actions[42]).toMatchObject({ state: 'done', summary: 'committed 1 file' });
    // The same status again changes nothing and is not told twice.
    sockets.last.push({ type: 'action-status', data: status(42, 'done') });
    expect(heard).toEqual(['42 running', '42 done']);
    expect(store.getSnapshot().cursor).toBe(cursor);
  });

  it('reads the action log after each (re)connect when the operator is signed in', async () => {
    const { store, sockets, logReads } = harness(operatorSession());
    store.start();
    await settle();
    sockets.last.accept();
    await settle();
    expect(logReads()).toEqual(['?limit=50']);
    expect(store.getSnapshot().actions[41]).toMatchObject({ state: 'done', summary: 'cloned halo' });
    sockets.last.drop();
    await vi.advanceTimersByTimeAsync(60_000);
    sockets.last.accept();
    await settle();
    expect(logReads()).toEqual(['?limit=50', '?limit=50']);
  });

  it('does not read the action log for a viewer', async () => {
    const { store, sockets, logReads } = harness(signedInSession());
    store.start();
    await settle();
    sockets.last.accept();
    await settle();
    expect(logReads()).toEqual([]);
    expect(store.getSnapshot().actions).toEqual({});
  });
});
