import { describe, expect, it } from 'vitest';
import { isSession, operatorSignInOffered, readSession, retryAfterSeconds, signedInWithToken, signIn, signOut } from './session';
import { json, scriptedFetch } from '../test/fakes';
import { signedInSession, signedOutSession } from '../test/store';

const BASE = 'http://dash.test/';

describe('readSession', () => {
  it('returns the session, asked for with the cookie and without the HTTP cache', async () => {
    const { fetch, calls } = scriptedFetch(() => json(signedOutSession()));
    expect(await readSession({ fetch, baseUrl: BASE })).toEqual({ kind: 'session', session: signedOutSession() });
    expect(calls[0]?.url.href).toBe('http://dash.test/api/session');
    expect(calls[0]?.init?.credentials).toBe('same-origin');
    expect(calls[0]?.init?.cache).toBe('no-store');
  });

  it('takes a 404 for a server without sign-in, and anything else for "unknown"', async () => {
    const answers: Array<() => Response> = [
      () => new Response('not found', { status: 404 }),
      () => new Response('oops', { status: 502 }),
      () => json({ type: 'audit-update' }),
      () => new Response('<html>', { status: 200 }),
    ];
    const kinds = [];
    for (const answer of answers) kinds.push((await readSession({ fetch: scriptedFetch(answer).fetch, baseUrl: BASE })).kind);
    expect(kinds).toEqual(['absent', 'unknown', 'unknown', 'unknown']);
    const offline = scriptedFetch(() => Promise.reject(new TypeError('Failed to fetch')));
    expect(await readSession({ fetch: offline.fetch, baseUrl: BASE })).toEqual({ kind: 'unknown', error: 'Failed to fetch' });
  });
});

describe('signIn and signOut', () => {
  it('posts the token as JSON and reads each refusal', async () => {
    const statuses: Array<[number, Record<string, string>]> = [
      [401, {}],
      [429, { 'Retry-After': '30' }],
      [400, {}],
      [404, {}],
    ];
    const reasons = [];
    for (const [status, headers] of statuses) {
      const { fetch, calls } = scriptedFetch(() => json({ error: 'x', message: `status ${status}` }, { status, headers }));
      const result = await signIn({ fetch, baseUrl: BASE }, 'secret-token-value');
      expect(calls[0]?.init?.method).toBe('POST');
      expect(calls[0]?.init?.body).toBe('{"token":"secret-token-value"}');
      expect(new Headers(calls[0]?.init?.headers).get('Content-Type')).toBe('application/json');
      reasons.push(result.ok ? 'ok' : `${result.reason} ${result.retryAfterS} ${result.message}`);
    }
    expect(reasons).toEqual([
      'rejected null status 401',
      'rate-limited 30 status 429',
      'refused null status 400',
      'refused null status 404',
    ]);
    const ok = await signIn({ fetch: scriptedFetch(() => json(signedInSession())).fetch, baseUrl: BASE }, 't');
    expect(ok).toEqual({ ok: true, session: signedInSession() });
  });

  it('signs out with DELETE', async () => {
    const { fetch, calls } = scriptedFetch(() => json(signedOutSession()));
    expect(await signOut({ fetch, baseUrl: BASE })).toEqual({ ok: true, session: signedOutSession() });
    expect(calls[0]?.init?.method).toBe('DELETE');
    const failing = scriptedFetch(() => new Response('', { status: 500 }));
    expect(await signOut({ fetch: failing.fetch, baseUrl: BASE })).toEqual({ ok: false, message: 'the server answered 500' });
  });
});

describe('helpers', () => {
  it('reads Retry-After as seconds or as a date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterSeconds('12', now)).toBe(12);
    expect(retryAfterSeconds('Thu, 01 Jan 2026 00:01:30 GMT', now)).toBe(90);
    expect(retryAfterSeconds('soon', now)).toBeNull();
    expect(retryAfterSeconds(null, now)).toBeNull();
  });

  it('knows a token session from a proxy one, and a session from anything else', () => {
    expect(signedInWithToken(signedInSession())).toBe(true);
    expect(signedInWithToken(signedInSession({ methods: ['token', 'proxy'], user: 'bob', expires_at: null }))).toBe(false);
    expect(signedInWithToken(signedOutSession())).toBe(false);
    expect(isSession(signedOutSession())).toBe(true);
    expect(isSession({ required: 'yes', authenticated: true, methods: [] })).toBe(false);
    expect(isSession(null)).toBe(false);
  });
});

describe('operatorSignInOffered', () => {
  const operator = (available: boolean, signIn: boolean, signedIn = false) => ({
    available,
    reason: available ? null : 'actions are off: …',
    sign_in: signIn,
    signed_in: signedIn,
    expires_at: null,
  });
  it('offers the sign-in where an operator token is configured, whether or not actions are on', () => {
    expect(operatorSignInOffered(operator(true, true))).toBe(true);
    expect(operatorSignInOffered(operator(false, true))).toBe(true);
    expect(operatorSignInOffered(operator(false, false, true))).toBe(true);
  });
  it('offers nothing without an operator token, or when the server says nothing', () => {
    expect(operatorSignInOffered(operator(false, false))).toBe(false);
    expect(operatorSignInOffered(null)).toBe(false);
  });
});
