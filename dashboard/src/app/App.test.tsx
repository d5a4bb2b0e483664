import { act, fireEvent, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { liveSnapshot, manualStore, realStore, renderWithStore, serverStatus } from '../test/store';
import { EPOCH } from '../test/fakes';

function liveApp() {
  const { store, sockets } = realStore();
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
    // The tab names the repository; focus is on its card's name.
    expect(document.title).toBe('halo — RED · 1 missing — gitops-live');
    expect(document.activeElement?.textContent).toBe('halo');
    fireEvent.click(screen.getByRole('link', { name: /All repositories/ }));
    expect(window.location.pathname).toBe('/');
    expect(screen.getByRole('article', { name: 'halo' }).className).not.toContain('card--selected');
    // The link is gone: focus goes to the page's heading, not to the body.
    expect(document.activeElement).toBe(screen.getByRole('heading', { level: 1, name: 'GitOps audit' }));
    expect(document.title).toBe('RED · 1 missing — gitops-live');
    // Another page: its name in the title, its heading focused.
    fireEvent.click(screen.getByRole('link', { name: 'History' }));
    expect(document.title).toBe('History — RED · 1 missing — gitops-live');
    expect(document.activeElement?.tagName).toBe('H1');
    store.stop();
  });

  it('shows a not-found page for unknown paths', async () => {
    window.history.replaceState(null, '', '/no/such/page');
    const { store } = liveApp();
    expect(screen.getByRole('heading', { name: 'Page not found' })).toBeTruthy();
    store.stop();
  });

  it('an invalid report at startup: the page says there is no good report yet and shows the error, not only "waiting"', () => {
    const status = serverStatus({
      state: 'waiting',
      last_loaded: null,
      last_error: { message: 'expected value at line 1 column 1; serving the last good report', since: '2026-01-01T00:00:00Z' },
    });
    renderWithStore(
      <App notificationApi={null} />,
      manualStore(liveSnapshot({ report: null, source: 'none', cursor: null, serverStatus: status })),
    );
    expect(screen.getByRole('alert').textContent).toContain('No good report yet.');
    expect(screen.getByRole('alert').textContent).toContain('expected value at line 1 column 1');
    expect(document.querySelector('.placeholder')?.textContent).toContain('No good report yet: the server cannot use the report file');
    expect(document.body.textContent).not.toContain('serving the last good report');
  });
});
