import { act, fireEvent, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { renderWithStore } from '../test/store';
import { createLiveStore } from '../lib/liveStore';
import { auditUpdate, EPOCH, FakeSocketServer, json, memoryStorage, scriptedFetch } from '../test/fakes';

function liveApp() {
  const sockets = new FakeSocketServer();
  const { fetch } = scriptedFetch(() => json(auditUpdate(1)));
  const store = createLiveStore({
    baseUrl: 'http://dash.test/',
    createWebSocket: sockets.create,
    createEventSource: null,
    fetch,
    storage: memoryStorage(),
    random: () => 0.5,
    now: () => Date.now(),
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    isOnline: () => true,
  });
  renderWithStore(<App notificationApi={null} />, store);
  return { store, sockets };
}

describe('App on the real store', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    window.history.replaceState(null, '', '/');
  });
  afterEach(() => vi.useRealTimers());

  it('loads, goes live and applies a change without re-fetching', async () => {
    const { store, sockets } = liveApp();
    expect(screen.getByText('Loading the report…')).toBeTruthy();
    await act(async () => {
      store.start();
      await vi.advanceTimersByTimeAsync(0);
    });
    act(() => sockets.last.accept());
    expect(document.querySelector('.conn__label')?.textContent).toBe('Live');
    expect(screen.getAllByRole('article')).toHaveLength(3);
    expect(document.title).toBe('RED · 1 missing — gitops-live');
    act(() =>
      sockets.last.push({
        type: 'repo-status-change',
        epoch: EPOCH,
        seq: 2,
        data: { name: 'halo', change: 'changed', ops: [{ op: 'replace', path: '/status', value: 'clean' }] },
      }),
    );
    expect(screen.getByRole('article', { name: 'halo' }).getAttribute('data-status')).toBe('clean');
    expect(screen.getByRole('region', { name: 'Notifications' }).textContent).toContain('halo');
    act(() => sockets.last.drop());
    expect(document.querySelector('.conn__label')?.textContent).toMatch(/^Reconnecting in \d s$/);
    store.stop();
  });

  it('routes /audit/:repo to the highlighted repository and back without a reload', async () => {
    window.history.replaceState(null, '', '/audit/halo?action=clone');
    const { store } = liveApp();
    await act(async () => {
      store.start();
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(screen.getByRole('article', { name: 'halo' }).className).toContain('card--selected');
    fireEvent.click(screen.getByRole('link', { name: /All repositories/ }));
    expect(window.location.pathname).toBe('/');
    expect(screen.getByRole('article', { name: 'halo' }).className).not.toContain('card--selected');
    store.stop();
  });

  it('shows a not-found page for unknown paths', async () => {
    window.history.replaceState(null, '', '/no/such/page');
    const { store } = liveApp();
    expect(screen.getByRole('heading', { name: 'Page not found' })).toBeTruthy();
    store.stop();
  });
});
