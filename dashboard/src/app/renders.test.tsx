// How often the dashboard's main components render for a message that does not concern them: a
// pong (only the round trip changes) and an `error` message (only the last error changes). Each
// component is wrapped by a counter (module mocks), and the app runs on the real store. Before the
// selector hook, both rendered the Dashboard, ConnectionStatus, ServerBanner and RealTimeToggle once
// each (and the App, not counted here).
import { act } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NamedExoticComponent, ReactNode } from 'react';
import { App } from './App';
import { realStore, renderWithStore } from '../test/store';
import { EPOCH } from '../test/fakes';

const renders = vi.hoisted(() => ({}) as Record<string, number>);

/** The component, counting its renders under `name`. */
function counted<P extends object>(name: string, render: (props: P) => ReactNode) {
  return (props: P) => {
    renders[name] = (renders[name] ?? 0) + 1;
    return render(props);
  };
}

vi.mock('../features/dashboard/Dashboard', async (original) => {
  const module = await original<typeof import('../features/dashboard/Dashboard')>();
  return { ...module, Dashboard: counted('Dashboard', module.Dashboard) };
});
vi.mock('../components/ConnectionStatus', async (original) => {
  const module = await original<typeof import('../components/ConnectionStatus')>();
  return { ...module, ConnectionStatus: counted('ConnectionStatus', module.ConnectionStatus) };
});
vi.mock('../components/ServerBanner', async (original) => {
  const module = await original<typeof import('../components/ServerBanner')>();
  return { ...module, ServerBanner: counted('ServerBanner', module.ServerBanner) };
});
vi.mock('../components/RealTimeToggle', async (original) => {
  const module = await original<typeof import('../components/RealTimeToggle')>();
  return { ...module, RealTimeToggle: counted('RealTimeToggle', module.RealTimeToggle) };
});
vi.mock('../components/RepositoryCard', async (original) => {
  const { memo } = await import('react');
  const module = await original<typeof import('../components/RepositoryCard')>();
  const inner = (module.RepositoryCard as NamedExoticComponent<object> & { type: (props: object) => ReactNode }).type;
  return { ...module, RepositoryCard: memo(counted('RepositoryCard', inner)) };
});

async function liveApp() {
  const { store, sockets } = realStore();
  renderWithStore(<App notificationApi={null} />, store);
  await act(async () => {
    store.start();
    await vi.advanceTimersByTimeAsync(0);
    sockets.last.accept();
    // Let the charts and the rest of the first paint settle.
    await vi.advanceTimersByTimeAsync(100);
  });
  return { store, socket: sockets.last };
}

/** Renders of each counted component while `act` runs. */
async function rendersDuring(step: () => void): Promise<Record<string, number>> {
  for (const name of Object.keys(renders)) renders[name] = 0;
  await act(async () => {
    step();
    await vi.advanceTimersByTimeAsync(0);
  });
  return { ...renders };
}

describe('renders per message', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    window.history.replaceState(null, '', '/');
  });
  afterEach(() => vi.useRealTimers());

  it('a pong renders only the connection status; an error message renders none of the main components', async () => {
    const { store, socket } = await liveApp();
    expect(store.getSnapshot().phase).toBe('live');
    expect(renders.Dashboard).toBeGreaterThan(0);

    const pong = await rendersDuring(() => socket.push({ type: 'pong', data: { ts: Date.now() - 7, server_time: 'now' } }));
    expect(store.getSnapshot().rttMs).toBe(7);
    const error = await rendersDuring(() => socket.push({ type: 'error', data: { code: 'unknown-type', message: 'what' } }));
    expect(store.getSnapshot().lastError).toBe('unknown-type: what');
    // A change to one repository, for comparison: the dashboard and that one card render.
    const change = await rendersDuring(() =>
      socket.push({
        type: 'repo-status-change',
        epoch: EPOCH,
        seq: 2,
        data: { name: 'halo', change: 'changed', new_status: 'clean', ops: [{ op: 'replace', path: '/status', value: 'clean' }] },
      }),
    );
    expect(pong).toEqual({ Dashboard: 0, ConnectionStatus: 1, ServerBanner: 0, RealTimeToggle: 0, RepositoryCard: 0 });
    expect(error).toEqual({ Dashboard: 0, ConnectionStatus: 0, ServerBanner: 0, RealTimeToggle: 0, RepositoryCard: 0 });
    expect(change.Dashboard).toBeGreaterThan(0);
    expect(change.RepositoryCard).toBeGreaterThan(0);
  });
});
