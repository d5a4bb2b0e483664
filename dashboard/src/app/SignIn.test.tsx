import { act, fireEvent, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { createLiveStore, type LiveStore } from '../lib/liveStore';
import { clockDeps, authServer, FakeSocketServer, memoryStorage, VIEWER_TOKEN, type AuthServerState } from '../test/fakes';
import { liveSnapshot, manualStore, renderWithStore, signedInSession, signedOutSession } from '../test/store';
import { CLOSE_CODES } from '../types/protocol';

let stores: LiveStore[] = [];

/** The app on the real store, against a fake server with viewer sign-in. */
async function startApp(server: Partial<AuthServerState> = {}) {
  const sockets = new FakeSocketServer();
  const fake = authServer(server);
  const storage = memoryStorage();
  const store = createLiveStore({
    baseUrl: 'http://dash.test/',
    createWebSocket: sockets.create,
    createEventSource: null,
    fetch: fake.fetch,
    storage,
    ...clockDeps(),
    checkSession: true,
  });
  stores.push(store);
  renderWithStore(<App notificationApi={null} />, store);
  await act(async () => {
    store.start();
    await vi.advanceTimersByTimeAsync(0);
  });
  return { store, sockets, fake, storage };
}

const tokenField = () => screen.getByLabelText('Access token') as HTMLInputElement;

async function submitToken(token: string) {
  fireEvent.change(tokenField(), { target: { value: token } });
  await act(async () => {
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await vi.advanceTimersByTimeAsync(0);
  });
}

beforeEach(() => {
  vi.useFakeTimers();
  window.history.replaceState(null, '', '/');
});

afterEach(() => {
  for (const store of stores) store.stop();
  stores = [];
  vi.useRealTimers();
});

describe('the sign-in screen', () => {
  it('replaces the dashboard: a labelled, focused password field and a submit button, no data', async () => {
    await startApp();
    expect(screen.getByRole('heading', { name: 'Sign in to gitops-live' })).toBeTruthy();
    const field = tokenField();
    expect(field.type).toBe('password');
    expect(document.activeElement).toBe(field);
    expect(screen.getByRole('button', { name: 'Sign in' }).getAttribute('type')).toBe('submit');
    expect(screen.queryAllByRole('article')).toHaveLength(0);
    expect(screen.queryByRole('region', { name: 'Connection' })).toBeNull();
    expect(document.title).toBe('Sign in — gitops-live');
    expect(document.querySelector('[style]')).toBeNull();
  });

  it('says a wrong token was not accepted, and empties the field', async () => {
    await startApp();
    await submitToken('guess');
    expect(screen.getByRole('alert').textContent).toBe('That token was not accepted.');
    expect(tokenField().value).toBe('');
    expect(tokenField().getAttribute('aria-invalid')).toBe('true');
    expect(document.activeElement).toBe(tokenField());
  });

  it('says when to try again after too many attempts', async () => {
    await startApp({ retryAfterS: 17 });
    await submitToken(VIEWER_TOKEN);
    expect(screen.getByRole('alert').textContent).toBe('Too many attempts; try again in 17 s.');
  });

  it('says so when the server cannot be reached', async () => {
    const app = await startApp();
    app.fake.state.unreachable = true;
    await submitToken(VIEWER_TOKEN);
    expect(screen.getByRole('alert').textContent).toBe('The server could not be reached. Check the connection and try again.');
  });

  it('asks for the token without sending anything when the field is empty', async () => {
    const app = await startApp();
    await submitToken('   ');
    expect(screen.getByRole('alert').textContent).toBe('Enter the access token.');
    expect(app.fake.requests('/api/session')).toEqual(['GET /api/session']);
  });

  it('shows the live dashboard after the right token, without a reload and without keeping the token', async () => {
    const app = await startApp();
    await submitToken(VIEWER_TOKEN);
    expect(screen.queryByLabelText('Access token')).toBeNull();
    expect(screen.getAllByRole('article')).toHaveLength(3);
    act(() => app.sockets.last.accept());
    expect(document.querySelector('.conn__label')?.textContent).toBe('Live');
    expect(screen.getByRole('button', { name: 'Sign out' })).toBeTruthy();
    act(() => app.store.flush());
    expect([...app.storage.map.values()].join('')).not.toContain(VIEWER_TOKEN);
    expect(document.body.innerHTML).not.toContain(VIEWER_TOKEN);
  });

  it('comes back with a note when the session ends while live', async () => {
    const app = await startApp({ signedIn: true });
    act(() => app.sockets.last.accept());
    expect(screen.getAllByRole('article')).toHaveLength(3);
    app.fake.state.signedIn = false;
    await act(async () => {
      app.sockets.last.drop(CLOSE_CODES.sessionExpired, 'session expired: sign in again');
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(screen.getByRole('status').textContent).toBe('Your session ended; sign in again.');
    expect(tokenField()).toBeTruthy();
    expect(screen.queryAllByRole('article')).toHaveLength(0);
  });

  it('signs out from the header and shows the form without the note', async () => {
    const app = await startApp({ signedIn: true });
    act(() => app.sockets.last.accept());
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Sign out' }));
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(app.fake.requests('/api/session')).toContain('DELETE /api/session');
    expect(tokenField()).toBeTruthy();
    expect(screen.queryByText(/session ended/)).toBeNull();
  });

  it('points to the proxy when the server signs viewers in only that way', async () => {
    const store = manualStore(
      liveSnapshot({
        access: 'signed-out',
        report: null,
        session: signedOutSession({ methods: ['proxy'] }),
      }),
    );
    renderWithStore(<App notificationApi={null} />, store);
    expect(screen.queryByLabelText('Access token')).toBeNull();
    expect(screen.getByText(/signs viewers in through its reverse proxy/)).toBeTruthy();
  });
});

describe('the header', () => {
  it('shows the user a proxy signed in, and no Sign out', () => {
    const store = manualStore(
      liveSnapshot({ access: 'signed-in', session: signedInSession({ methods: ['proxy'], user: 'alice', expires_at: null }) }),
    );
    renderWithStore(<App notificationApi={null} />, store);
    expect(screen.getByRole('group', { name: 'Viewer session' }).textContent).toBe('Signed in as alice');
    expect(screen.queryByRole('button', { name: 'Sign out' })).toBeNull();
  });

  it('shows Sign out for a token session and nothing without sign-in', () => {
    const store = manualStore(liveSnapshot({ access: 'signed-in', session: signedInSession() }));
    renderWithStore(<App notificationApi={null} />, store);
    fireEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(store.signOut).toHaveBeenCalledTimes(1);
    act(() => store.set({ access: 'open', session: null }));
    expect(screen.queryByRole('group', { name: 'Viewer session' })).toBeNull();
  });

  it('says so when signing out fails', async () => {
    const store = manualStore(liveSnapshot({ access: 'signed-in', session: signedInSession() }));
    store.signOut.mockResolvedValue({ ok: false, message: 'Failed to fetch' });
    renderWithStore(<App notificationApi={null} />, store);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Sign out' }));
      await Promise.resolve();
    });
    expect(screen.getByRole('alert').textContent).toBe('Sign out failed; try again.');
    expect((screen.getByRole('button', { name: 'Sign out' }) as HTMLButtonElement).disabled).toBe(false);
  });
});
