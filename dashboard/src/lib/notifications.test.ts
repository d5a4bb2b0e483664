import { describe, expect, it } from 'vitest';
import { ActionError } from './actions';
import { activeSnooze, isNotificationsOff, notificationsClient } from './notifications';
import { json, scriptedFetch } from '../test/fakes';

const BASE = 'http://dash.test/';

describe('notificationsClient', () => {
  it('reads the overview with the cookie and without a body', async () => {
    const overview = { destinations: [], deliveries: [], snoozes: [], dashboard_url: null };
    const { fetch, calls } = scriptedFetch(() => json(overview));
    expect(await notificationsClient({ fetch, baseUrl: BASE }).overview()).toEqual(overview);
    expect(calls[0]?.url.pathname).toBe('/api/notifications');
    expect(calls[0]?.init?.method).toBe('GET');
    expect(calls[0]?.init?.credentials).toBe('same-origin');
    expect(calls[0]?.init?.body).toBeUndefined();
  });

  it('posts JSON for a test (to all, or to one destination) and for a retry', async () => {
    const { fetch, calls } = scriptedFetch((url) =>
      url.pathname.endsWith('/retry') ? json({ queued: 12 }) : json({ queued: [{ destination: 'webhook-0a1b2c3d', id: 3 }] }),
    );
    const client = notificationsClient({ fetch, baseUrl: BASE });
    await client.sendTest();
    await client.sendTest('ntfy-99887766');
    expect(await client.retry(12)).toEqual({ queued: 12 });
    expect(calls.map((c) => `${c.init?.method} ${c.url.pathname} ${String(c.init?.body)}`)).toEqual([
      'POST /api/notifications/test {}',
      'POST /api/notifications/test {"destination":"ntfy-99887766"}',
      'POST /api/notifications/12/retry {}',
    ]);
    for (const call of calls) {
      expect(new Headers(call.init?.headers).get('Content-Type')).toBe('application/json');
      expect(call.init?.credentials).toBe('same-origin');
    }
  });

  it('snoozes with {"for": span} and wakes with DELETE, the name as one encoded segment', async () => {
    const { fetch, calls } = scriptedFetch((_url, init) =>
      json({ repo: 'alice/halo', until: init?.method === 'DELETE' ? null : '2026-01-01T04:00:00Z' }),
    );
    const client = notificationsClient({ fetch, baseUrl: BASE });
    expect(await client.snooze('alice/halo', '4h')).toEqual({ repo: 'alice/halo', until: '2026-01-01T04:00:00Z' });
    expect(await client.wake('alice/halo')).toEqual({ repo: 'alice/halo', until: null });
    expect(calls[0]?.url.pathname).toBe('/api/repos/alice%2Fhalo/snooze');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(JSON.parse(String(calls[0]?.init?.body))).toEqual({ for: '4h' });
    expect(calls[1]?.url.pathname).toBe('/api/repos/alice%2Fhalo/snooze');
    expect(calls[1]?.init?.method).toBe('DELETE');
    expect(calls[1]?.init?.body).toBeUndefined();
  });

  it('tells "notifications are off" from other refusals', async () => {
    const answer = (status: number, error: string) =>
      notificationsClient({ fetch: scriptedFetch(() => json({ error, message: error }, { status })).fetch, baseUrl: BASE })
        .overview()
        .catch((e: unknown) => e);
    const off = await answer(404, 'notifications-off');
    expect(off).toBeInstanceOf(ActionError);
    expect(off).toMatchObject({ status: 404, code: 'notifications-off' });
    expect(isNotificationsOff(off)).toBe(true);
    const viewer = await answer(403, 'operator-required');
    expect(isNotificationsOff(viewer)).toBe(false);
    expect((viewer as ActionError).operatorLost).toBe(true);
    expect(isNotificationsOff(await answer(404, 'not-found'))).toBe(false);
    expect(isNotificationsOff(new Error('notifications-off'))).toBe(false);
  });

  it('turns a refused snooze, a page that is not JSON and no answer at all into ActionErrors', async () => {
    const bad = notificationsClient({
      fetch: scriptedFetch(() => json({ error: 'bad-body', message: 'a snooze lasts a year at most' }, { status: 400 })).fetch,
      baseUrl: BASE,
    });
    await expect(bad.snooze('halo', '400d')).rejects.toMatchObject({
      status: 400,
      code: 'bad-body',
      message: 'a snooze lasts a year at most',
    });
    const proxy = notificationsClient({
      fetch: scriptedFetch(() => new Response('<html>bad gateway', { status: 502 })).fetch,
      baseUrl: BASE,
    });
    await expect(proxy.retry(1)).rejects.toMatchObject({ status: 502, code: 'http-502' });
    const offline = notificationsClient({
      fetch: scriptedFetch(() => Promise.reject(new TypeError('Failed to fetch'))).fetch,
      baseUrl: BASE,
    });
    await expect(offline.sendTest()).rejects.toMatchObject({ status: 0, code: 'unreachable' });
  });
});

describe('activeSnooze', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const snoozes = [
    { repo: 'halo', until: '2026-01-01T11:00:00Z' },
    { repo: 'esphome', until: '2026-01-01T16:00:00Z' },
  ];
  it('finds a running snooze by the exact name, and not one that has ended', () => {
    expect(activeSnooze(snoozes, 'esphome', now)).toEqual(snoozes[1]);
    expect(activeSnooze(snoozes, 'halo', now)).toBeNull();
    expect(activeSnooze(snoozes, 'ESPHOME', now)).toBeNull();
    expect(activeSnooze([], 'esphome', now)).toBeNull();
  });
});
