import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { NotificationsSection } from './NotificationsSection';
import { CardSnooze, RepoSnooze } from './RepoSnooze';
import { NotifyProvider } from './state';
import { notificationsClient, type NotificationsOverview, type NotifyDelivery } from '../../lib/notifications';
import { formatDateTime } from '../../lib/time';
import { json, scriptedFetch } from '../../test/fakes';
import { liveSnapshot, manualStore, operatorSession, renderWithStore, signedInSession } from '../../test/store';
import type { ReactElement } from 'react';

const WEBHOOK = { id: 'webhook-0a1b2c3d', kind: 'webhook', target: 'https://hooks.example.org/*** (signed)', signed: true };
const NTFY = { id: 'ntfy-11223344', kind: 'ntfy', target: 'ntfy://ntfy.sh/***', signed: false };

function delivery(patch: Partial<NotifyDelivery>): NotifyDelivery {
  return {
    id: 1,
    destination: WEBHOOK.id,
    state: 'delivered',
    attempts: 1,
    created_at: '2026-01-01T10:00:00Z',
    ended_at: '2026-01-01T10:00:01Z',
    last_error: null,
    title: 'esphome is dirty',
    ...patch,
  };
}

/** A server holding an overview that the test's requests change, as the real one would. */
function notifyServer(initial: Partial<NotificationsOverview> | 'off') {
  const overview: NotificationsOverview =
    initial === 'off'
      ? { destinations: [], deliveries: [], snoozes: [], dashboard_url: null }
      : { destinations: [WEBHOOK, NTFY], deliveries: [], snoozes: [], dashboard_url: null, ...initial };
  const scripted = scriptedFetch((url, init) => {
    if (initial === 'off')
      return json({ error: 'notifications-off', message: 'no notification destination is configured (--notify-url)' }, { status: 404 });
    const method = init?.method ?? 'GET';
    const retry = /^\/api\/notifications\/(\d+)\/retry$/.exec(url.pathname);
    if (retry && method === 'POST') {
      const id = Number(retry[1]);
      overview.deliveries = [
        delivery({ id: id + 100, state: 'pending', attempts: 0, ended_at: null, title: 'retried' }),
        ...overview.deliveries.map((d) => (d.id === id ? { ...d, state: 'requeued' } : d)),
      ];
      return json({ queued: id });
    }
    if (url.pathname === '/api/notifications/test' && method === 'POST') {
      const wanted = (JSON.parse(String(init?.body)) as { destination?: string }).destination;
      const queued = overview.destinations.filter((d) => !wanted || d.id === wanted).map((d, i) => ({ destination: d.id, id: 50 + i }));
      overview.deliveries = [
        ...queued.map((q) =>
          delivery({ id: q.id, destination: q.destination, state: 'pending', attempts: 0, ended_at: null, title: 'Test' }),
        ),
        ...overview.deliveries,
      ];
      return json({ queued });
    }
    const snooze = /^\/api\/repos\/([^/]+)\/snooze$/.exec(url.pathname);
    if (snooze) {
      const repo = decodeURIComponent(snooze[1]!);
      overview.snoozes = overview.snoozes.filter((s) => s.repo !== repo);
      if (method === 'DELETE') return json({ repo, until: null });
      overview.snoozes.push({ repo, until: '2099-01-01T04:00:00Z' });
      return json({ repo, until: '2099-01-01T04:00:00Z' });
    }
    if (url.pathname === '/api/notifications' && method === 'GET') return json(overview);
    return json({ error: 'method', message: 'method not allowed here' }, { status: 405 });
  });
  return { ...scripted, overview };
}

function renderNotify(ui: ReactElement, server: ReturnType<typeof notifyServer>, session = operatorSession()) {
  const store = manualStore(liveSnapshot({ session }));
  const client = notificationsClient({ fetch: server.fetch, baseUrl: 'http://dash.test/' });
  renderWithStore(<NotifyProvider client={client}>{ui}</NotifyProvider>, store);
  return store;
}

const requests = (server: ReturnType<typeof notifyServer>) => server.calls.map((c) => `${c.init?.method ?? 'GET'} ${c.url.pathname}`);

describe('the Notifications section', () => {
  it('says notifications are off and how to turn them on when the server has no destination', async () => {
    const server = notifyServer('off');
    renderNotify(<NotificationsSection />, server);
    const note = await screen.findByRole('note');
    expect(note.textContent).toContain('Notifications are off');
    expect(note.textContent).toContain('--notify-url');
    expect(note.textContent).toContain('docs/operations.md');
    expect(screen.queryByRole('button')).toBeNull();
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('lists the destinations as the server redacted them, with a signed badge and a test button each', async () => {
    const server = notifyServer({});
    renderNotify(<NotificationsSection />, server);
    const list = await screen.findByRole('list', { name: 'Destinations' });
    const rows = within(list).getAllByRole('listitem');
    expect(rows.map((row) => row.textContent)).toEqual([
      'webhookhttps://hooks.example.org/*** signed Send test to webhook-0a1b2c3d',
      'ntfyntfy://ntfy.sh/*** Send test to ntfy-11223344',
    ]);
    fireEvent.click(within(rows[1]!).getByRole('button', { name: /Send test/ }));
    await screen.findByText('A test message is queued for ntfy-11223344.');
    fireEvent.click(screen.getByRole('button', { name: 'Send test to all' }));
    await screen.findByText('A test message is queued for every destination.');
    const tests = server.calls.filter((c) => c.url.pathname === '/api/notifications/test').map((c) => String(c.init?.body));
    expect(tests).toEqual(['{"destination":"ntfy-11223344"}', '{}']);
  });

  it('retries a dead delivery, shows its error, and reads the log again', async () => {
    const server = notifyServer({
      deliveries: [
        delivery({ id: 7, state: 'dead', attempts: 5, last_error: 'http 500 from hooks.example.org', ended_at: '2026-01-01T11:00:00Z' }),
        delivery({ id: 6, state: 'pending', attempts: 2, last_error: 'connection refused', ended_at: null, title: 'halo is missing' }),
        delivery({ id: 5 }),
      ],
    });
    renderNotify(<NotificationsSection />, server);
    const log = await screen.findByRole('list', { name: 'Deliveries' });
    const dead = within(log).getAllByRole('listitem')[0]!;
    expect(dead.getAttribute('data-state')).toBe('dead');
    expect(dead.textContent).toContain('Given up after 5 attempts: http 500 from hooks.example.org');
    const pending = within(log).getAllByRole('listitem')[1]!;
    expect(pending.textContent).toContain('2 attempts so far; last error: connection refused');
    // Only the dead letter can be retried.
    expect(
      within(log)
        .getAllByRole('button')
        .map((b) => b.textContent?.trim()),
    ).toEqual(['Retry delivery #7']);

    fireEvent.click(within(dead).getByRole('button', { name: 'Retry delivery #7' }));
    await screen.findByText('Delivery #7 is queued again.');
    const rows = within(screen.getByRole('list', { name: 'Deliveries' })).getAllByRole('listitem');
    expect(rows.map((row) => row.getAttribute('data-state'))).toEqual(['pending', 'requeued', 'pending', 'delivered']);
    expect(requests(server)).toEqual(['GET /api/notifications', 'POST /api/notifications/7/retry', 'GET /api/notifications']);
    expect(JSON.parse(String(server.calls[1]?.init?.body))).toEqual({});
  });

  it('lists the snoozed repositories, each with Wake', async () => {
    const server = notifyServer({ snoozes: [{ repo: 'alice/halo', until: '2099-01-01T00:00:00Z' }] });
    renderNotify(<NotificationsSection />, server);
    const list = await screen.findByRole('list', { name: 'Snoozed repositories' });
    expect(list.textContent).toContain(formatDateTime(new Date('2099-01-01T00:00:00Z')));
    fireEvent.click(within(list).getByRole('button', { name: 'Wake alice/halo' }));
    await screen.findByText('No repository is snoozed.');
    expect(requests(server)).toContain('DELETE /api/repos/alice%2Fhalo/snooze');
  });

  it('asks nothing and shows nothing to a viewer', async () => {
    const server = notifyServer({});
    renderNotify(<NotificationsSection />, server, signedInSession());
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(screen.queryByRole('heading', { name: 'Notifications' })).toBeNull();
    expect(server.calls).toEqual([]);
  });
});

describe('snoozing a repository', () => {
  it('shows a snooze with its time and wakes it; then offers the choices again', async () => {
    const until = '2099-03-04T05:06:00Z';
    const server = notifyServer({ snoozes: [{ repo: 'esphome', until }] });
    renderNotify(<RepoSnooze repo="esphome" />, server);
    const note = await screen.findByRole('status');
    expect(note.textContent).toContain(`Notifications snoozed until ${formatDateTime(new Date(until))}`);
    expect(note.querySelector('time')?.getAttribute('dateTime')).toBe(until);
    fireEvent.click(screen.getByRole('button', { name: 'Wake esphome' }));
    const choices = await screen.findByRole('group', { name: 'Snooze notifications' });
    expect(
      within(choices)
        .getAllByRole('button')
        .map((b) => b.textContent),
    ).toEqual(['1 h', '4 h', '1 day', '1 week']);
    expect(requests(server)).toEqual(['GET /api/notifications', 'DELETE /api/repos/esphome/snooze', 'GET /api/notifications']);
  });

  it('snoozes for the chosen span and shows until when', async () => {
    const server = notifyServer({});
    renderNotify(<RepoSnooze repo="alice/halo" />, server);
    const choices = await screen.findByRole('group', { name: 'Snooze notifications' });
    fireEvent.click(within(choices).getByRole('button', { name: '1 week' }));
    const note = await screen.findByRole('status');
    expect(note.textContent).toContain(formatDateTime(new Date('2099-01-01T04:00:00Z')));
    const post = server.calls.find((c) => c.init?.method === 'POST');
    expect(post?.url.pathname).toBe('/api/repos/alice%2Fhalo/snooze');
    expect(JSON.parse(String(post?.init?.body))).toEqual({ for: '7d' });
  });

  it('offers nothing when notifications are off, and a card says nothing unless snoozed', async () => {
    const off = notifyServer('off');
    renderNotify(<RepoSnooze repo="esphome" />, off);
    await waitFor(() => expect(off.calls.length).toBe(1));
    expect(screen.queryByRole('group')).toBeNull();
    expect(screen.queryByRole('button')).toBeNull();
  });

  it('does not ask the server for a card alone (the overview page of a server without notifications stays quiet)', async () => {
    const server = notifyServer({ snoozes: [{ repo: 'esphome', until: '2099-01-01T00:00:00Z' }] });
    renderNotify(<CardSnooze repo="esphome" />, server);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.calls).toEqual([]);
    expect(screen.queryByText(/snoozed/)).toBeNull();
  });

  it('shows the snoozed line on a snoozed card only, and an ended snooze not at all', async () => {
    const server = notifyServer({
      snoozes: [
        { repo: 'esphome', until: '2099-01-01T00:00:00Z' },
        { repo: 'halo', until: '2020-01-01T00:00:00Z' },
      ],
    });
    renderNotify(
      <>
        <div data-testid="esphome">
          <CardSnooze repo="esphome" />
        </div>
        <div data-testid="halo">
          <CardSnooze repo="halo" />
        </div>
        <div data-testid="kitshn">
          <CardSnooze repo="kitshn" />
        </div>
        {/* A repository's page (or the Actions page) open: the overview is read. */}
        <RepoSnooze repo="other" />
      </>,
      server,
    );
    await within(screen.getByTestId('esphome')).findByText(/Notifications snoozed until/);
    expect(screen.getByTestId('halo').textContent).toBe('');
    expect(screen.getByTestId('kitshn').textContent).toBe('');
  });
});
