// Several "tabs" in one process: each a live store with its own fake transports, linked by a fake
// lock manager and a fake BroadcastChannel that behave as the browser's do (one holder per lock,
// waiters granted in order, messages delivered asynchronously, in order, to every other channel).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLiveStore, type LiveStore } from './liveStore';
import type { StatusChange } from './report';
import { browserTabLink, createTabLink, type ChannelLike, type LockManagerLike, type TabLink } from './tabLeader';
import { clockDeps, auditUpdate, EPOCH, FakeSocketServer, json, scriptedFetch } from '../test/fakes';
import type { ServerMessage } from '../types/protocol';

const BASE = 'http://dash.test:3070/';

/** The browser's lock manager, for one origin: one holder per name, waiters in order. */
class FakeLocks implements LockManagerLike {
  private holder: string | null = null;
  private readonly waiting: Array<{ grant: () => void; signal?: AbortSignal | undefined; reject: (error: unknown) => void }> = [];

  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<void>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const entry = {
        signal: options.signal,
        reject,
        grant: () => {
          this.holder = name;
          void Promise.resolve()
            .then(() => callback({ name }))
            .finally(() => {
              this.holder = null;
              resolve(undefined);
              this.pump();
            });
        },
      };
      options.signal?.addEventListener('abort', () => {
        const index = this.waiting.indexOf(entry);
        if (index < 0) return;
        this.waiting.splice(index, 1);
        reject(new DOMException('aborted', 'AbortError'));
      });
      this.waiting.push(entry);
      this.pump();
    });
  }

  private pump() {
    if (this.holder !== null) return;
    this.waiting.shift()?.grant();
  }
}

/** BroadcastChannels of one origin: a message reaches every other open channel of that name, later. */
class FakeChannels {
  private readonly open = new Set<{ name: string; channel: ChannelLike }>();
  /** Every message posted, for assertions. */
  readonly log: Array<Record<string, unknown>> = [];

  readonly openChannel = (name: string): ChannelLike => {
    const entry = { name, channel: null as unknown as ChannelLike };
    // Arrow functions: `this` is the FakeChannels, not the channel object.
    entry.channel = {
      onmessage: null,
      postMessage: (message: unknown) => {
        if (!this.open.has(entry)) return;
        const copy = JSON.stringify(message);
        this.log.push(JSON.parse(copy) as Record<string, unknown>);
        for (const other of this.open) {
          if (other === entry || other.name !== name) continue;
          void Promise.resolve().then(() => {
            if (this.open.has(other)) other.channel.onmessage?.({ data: JSON.parse(copy) });
          });
        }
      },
      close: () => {
        this.open.delete(entry);
      },
    };
    this.open.add(entry);
    return entry.channel;
  };
}

interface Tab {
  name: string;
  store: LiveStore;
  link: TabLink;
  sockets: FakeSocketServer;
  calls: ReturnType<typeof scriptedFetch>['calls'];
  /** Repository status changes this tab announced (one per applied change). */
  changes: StatusChange[];
}

let locks: FakeLocks;
let channels: FakeChannels;
let tabs: Tab[] = [];

/** Opens a tab: a store with its own transports, linked to the others. */
function openTab(name: string, serverSeq = 1): Tab {
  const sockets = new FakeSocketServer();
  const { fetch, calls } = scriptedFetch((url) => {
    if (url.pathname === '/api/audit') return json(auditUpdate(serverSeq));
    return new Response('not found', { status: 404 });
  });
  const link = createTabLink({ locks, openChannel: channels.openChannel, id: name });
  const store = createLiveStore({
    baseUrl: BASE,
    createWebSocket: sockets.create,
    createEventSource: null,
    fetch,
    storage: null,
    ...clockDeps(),
    tabs: link,
  });
  const tab: Tab = { name, store, link, sockets, calls, changes: [] };
  store.subscribeStatusChanges((changes) => tab.changes.push(...changes));
  store.start();
  tabs.push(tab);
  return tab;
}

const settle = () => vi.advanceTimersByTimeAsync(0);

function change(seq: number, name: string, status: string): ServerMessage {
  return {
    type: 'repo-status-change',
    epoch: EPOCH,
    seq,
    data: { name, change: 'changed', new_status: status, ops: [{ op: 'replace', path: '/status', value: status }] },
  };
}

const statusOf = (tab: Tab, name: string) => tab.store.getSnapshot().report?.repos.find((r) => r.name === name)?.status;
const auditFetches = (tab: Tab) => tab.calls.filter((c) => c.url.pathname === '/api/audit').length;

/** Opens the leader (first tab), lets its snapshot land and its socket open. */
async function openLeader(name = 'a') {
  const tab = openTab(name);
  await settle();
  expect(tab.link.role()).toBe('leader');
  tab.sockets.last.accept();
  await settle();
  return tab;
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  locks = new FakeLocks();
  channels = new FakeChannels();
});

afterEach(() => {
  for (const tab of tabs) tab.store.stop();
  tabs = [];
  vi.useRealTimers();
});

describe('one connection per browser', () => {
  it('only the leader connects; a tab opened later shows the state at once, without a request of its own', async () => {
    const a = await openLeader();
    a.sockets.last.push(change(2, 'halo', 'clean'));
    const b = openTab('b');
    await settle();
    expect(b.link.role()).toBe('follower');
    expect(b.sockets.sockets).toHaveLength(0);
    expect(b.calls).toHaveLength(0);
    expect(b.store.getSnapshot().report).toEqual(a.store.getSnapshot().report);
    expect(b.store.getSnapshot().cursor).toBe(`${EPOCH}:2`);
    expect(b.store.getSnapshot().source).toBe('server');
    // It shows the leader's connection.
    expect(b.store.getSnapshot().phase).toBe('live');
    expect(b.store.getSnapshot().transport).toBe('websocket');
    expect(a.sockets.sockets).toHaveLength(1);
  });

  it('followers apply what the leader relays and end at its cursor, applying nothing twice', async () => {
    const a = await openLeader();
    const b = openTab('b');
    const c = openTab('c');
    await settle();
    const socket = a.sockets.last;
    socket.push(change(2, 'halo', 'clean'));
    socket.push(change(3, 'esphome', 'clean'));
    socket.push({ type: 'health-metrics-update', epoch: EPOCH, seq: 4, data: { health_status: 'green' } });
    // Duplicates from the server (a replay overlapping what was applied) are ignored everywhere.
    socket.push(change(3, 'esphome', 'missing'));
    socket.push(change(2, 'halo', 'extra'));
    await settle();
    for (const tab of [a, b, c]) {
      expect(tab.store.getSnapshot().cursor).toBe(`${EPOCH}:4`);
      expect(statusOf(tab, 'halo')).toBe('clean');
      expect(statusOf(tab, 'esphome')).toBe('clean');
      expect(tab.store.getSnapshot().report?.health_status).toBe('green');
      expect(tab.changes.map((ch) => `${ch.name} ${ch.to}`)).toEqual(['halo clean', 'esphome clean']);
    }
    expect(b.store.getSnapshot().report).toEqual(a.store.getSnapshot().report);
    expect(b.sockets.sockets).toHaveLength(0);
    expect(c.sockets.sockets).toHaveLength(0);
  });

  it('when the leader closes, the next tab connects from its cursor and the others carry on from it', async () => {
    const a = await openLeader();
    const b = openTab('b');
    const c = openTab('c');
    await settle();
    a.sockets.last.push(change(2, 'halo', 'clean'));
    a.sockets.last.push(change(3, 'kitshn', 'dirty'));
    await settle();
    a.store.stop();
    await settle();
    expect(b.link.role()).toBe('leader');
    expect(c.link.role()).toBe('follower');
    // The new leader resumes from the cursor it reached by applying every relay: no snapshot.
    expect(b.sockets.sockets).toHaveLength(1);
    expect(b.sockets.last.since()).toBe(`${EPOCH}:3`);
    expect(auditFetches(b)).toBe(0);
    expect(c.sockets.sockets).toHaveLength(0);
    const socket = b.sockets.last;
    socket.accept();
    // The server's replay may overlap what was relayed: the overlap is ignored, the rest applied.
    socket.push(change(3, 'kitshn', 'extra'));
    socket.push(change(4, 'esphome', 'clean'));
    await settle();
    for (const tab of [b, c]) {
      expect(tab.store.getSnapshot().cursor).toBe(`${EPOCH}:4`);
      expect(statusOf(tab, 'kitshn')).toBe('dirty');
      expect(statusOf(tab, 'esphome')).toBe('clean');
      expect(tab.changes.map((ch) => `${ch.name} ${ch.to}`)).toEqual(['halo clean', 'kitshn dirty', 'esphome clean']);
    }
    expect(c.store.getSnapshot().phase).toBe('live');
  });

  it('a gap in the relay makes followers ask the leader, which answers with its state; the resume then reaches everyone', async () => {
    const a = await openLeader();
    const b = openTab('b');
    await settle();
    const hellosBefore = channels.log.filter((m) => m.kind === 'hello').length;
    a.sockets.last.push(change(3, 'halo', 'clean'));
    await settle();
    // The leader resumes from its cursor; the follower asked the leader and kept the state at 1.
    expect(a.sockets.last.messages()).toContainEqual({ type: 'resume', since: `${EPOCH}:1` });
    expect(channels.log.filter((m) => m.kind === 'hello').length).toBe(hellosBefore + 1);
    expect(b.store.getSnapshot().cursor).toBe(`${EPOCH}:1`);
    expect(statusOf(b, 'halo')).toBe('missing');
    a.sockets.last.push({
      type: 'catch-up',
      epoch: EPOCH,
      seq: 3,
      data: { since: `${EPOCH}:1`, repos: [change(3, 'halo', 'clean').data as never], meta: null },
    });
    await settle();
    expect(b.store.getSnapshot().cursor).toBe(`${EPOCH}:3`);
    expect(statusOf(b, 'halo')).toBe('clean');
  });

  it('action statuses reach every tab; Reconnect in a follower reconnects the leader', async () => {
    const a = await openLeader();
    const b = openTab('b');
    await settle();
    const heard: string[] = [];
    b.store.subscribeActionStatus((s) => heard.push(`${s.id} ${s.state}`));
    a.sockets.last.push({
      type: 'action-status',
      data: { id: 7, action: 'pull', repo: 'halo', who: 'operator', state: 'done', summary: 'pulled', at: '2026-01-01T00:00:01Z' },
    });
    await settle();
    expect(heard).toEqual(['7 done']);
    b.store.reconnectNow();
    await settle();
    expect(a.sockets.sockets).toHaveLength(2);
    expect(a.sockets.last.since()).toBe(`${EPOCH}:1`);
    expect(b.sockets.sockets).toHaveLength(0);
  });

  it('polling chosen in a follower is taken by the leader, and the followers show it', async () => {
    const a = await openLeader();
    const b = openTab('b');
    await settle();
    b.store.setMode({ kind: 'polling', intervalS: 5 });
    await settle();
    expect(a.store.getSnapshot().mode).toEqual({ kind: 'polling', intervalS: 5 });
    expect(a.sockets.last.closedByClient).not.toBeNull();
    expect(a.store.getSnapshot().phase).toBe('polling');
    expect(b.store.getSnapshot().phase).toBe('polling');
    expect(b.calls).toHaveLength(0);
  });
});

describe('without the Web Locks API', () => {
  it('the browser store links no tabs (jsdom has no navigator.locks), so each tab connects by itself', () => {
    expect((navigator as { locks?: unknown }).locks).toBeUndefined();
    expect(browserTabLink()).toBeNull();
  });
});
