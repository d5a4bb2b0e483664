// Viewer sign-in over `/api/session`: read the session, sign in with the viewer token, sign out.
// The session itself is an HttpOnly cookie the browser keeps; nothing here sees or stores it, and
// the token only passes through as the body of one request.
import type { FetchLike } from './transports';
import type { Session } from '../types/protocol';

/** What `GET /api/session` said. */
export type SessionAnswer =
  /** The server's answer. */
  | { kind: 'session'; session: Session }
  /** 404: a server from before viewer sign-in; it never asks anyone to sign in. */
  | { kind: 'absent' }
  /** No usable answer (network error, 5xx, a body that is not a session): nothing is known. */
  | { kind: 'unknown'; error: string };

/** How a sign-in went. */
export type SignInResult =
  | { ok: true; session: Session }
  /** `rejected`: wrong token; `rate-limited`: too many attempts (wait `retryAfterS`); `unreachable`: no answer; `refused`: any other refusal. */
  | { ok: false; reason: 'rejected' | 'rate-limited' | 'unreachable' | 'refused'; retryAfterS: number | null; message: string };

/** How a sign-out went. */
export type SignOutResult = { ok: true; session: Session } | { ok: false; message: string };

/** Whether a session is required and missing: the viewer has to sign in. */
export function needsSignIn(session: Session): boolean {
  return session.required && !session.authenticated;
}

/** Whether the viewer signed in with the token (a cookie session that can be ended by signing out). */
export function signedInWithToken(session: Session): boolean {
  return session.required && session.authenticated && session.methods.includes('token') && session.expires_at !== null;
}

/** Checks that a parsed body has the shape of `Session`. */
export function isSession(value: unknown): value is Session {
  if (value === null || typeof value !== 'object') return false;
  const body = value as Record<string, unknown>;
  return (
    typeof body.required === 'boolean' &&
    typeof body.authenticated === 'boolean' &&
    Array.isArray(body.methods) &&
    (body.user === null || body.user === undefined || typeof body.user === 'string') &&
    (body.expires_at === null || body.expires_at === undefined || typeof body.expires_at === 'string')
  );
}

/** What a server from before actions (no `operator` in its session) means: it cannot act. */
export const NO_ACTIONS: Session['operator'] = { available: false, reason: null, sign_in: false, signed_in: false, expires_at: null };

/**
 * Whether the operator can sign in on this server: where an operator token is configured
 * (`sign_in`), also where actions are off (`serve --report`), since the operator still sees and
 * tests notifications there. A server before `sign_in` existed offers it where it can act.
 */
export function operatorSignInOffered(operator: Session['operator'] | null | undefined): boolean {
  if (!operator) return false;
  return operator.sign_in || operator.available || operator.signed_in;
}

function normalise(session: Session): Session {
  const operator = (session as Partial<Session>).operator;
  return {
    ...session,
    user: session.user ?? null,
    expires_at: session.expires_at ?? null,
    operator:
      operator && typeof operator === 'object'
        ? {
            available: operator.available === true,
            reason: typeof operator.reason === 'string' ? operator.reason : null,
            sign_in: operator.sign_in === true,
            signed_in: operator.signed_in === true,
            expires_at: typeof operator.expires_at === 'string' ? operator.expires_at : null,
          }
        : NO_ACTIONS,
  };
}

async function sessionBody(response: Response): Promise<Session | null> {
  try {
    const body: unknown = await response.json();
    return isSession(body) ? normalise(body) : null;
  } catch {
    return null;
  }
}

/** What the session requests need. */
export interface SessionOptions {
  fetch: FetchLike;
  baseUrl: string;
}

const sessionUrl = (baseUrl: string) => new URL('/api/session', baseUrl).href;

/** `GET /api/session`. Never throws. */
export async function readSession(options: SessionOptions, signal?: AbortSignal): Promise<SessionAnswer> {
  let response: Response;
  try {
    response = await options.fetch(sessionUrl(options.baseUrl), {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    return { kind: 'unknown', error: (error as Error).message };
  }
  if (response.status === 404) return { kind: 'absent' };
  if (!response.ok) return { kind: 'unknown', error: `GET /api/session answered ${response.status}` };
  const session = await sessionBody(response);
  return session ? { kind: 'session', session } : { kind: 'unknown', error: 'GET /api/session answered something that is not a session' };
}

/** Seconds from a `Retry-After` header (delta-seconds or an HTTP date), or null. */
export function retryAfterSeconds(header: string | null, now: number = Date.now()): number | null {
  if (!header) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

async function errorMessage(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { message?: unknown };
    if (typeof body.message === 'string' && body.message) return body.message;
  } catch {
    // Not JSON: the status says enough.
  }
  return `the server answered ${response.status}`;
}

/** `POST /api/session` with the token. Never throws. */
export async function signIn(options: SessionOptions, token: string): Promise<SignInResult> {
  let response: Response;
  try {
    response = await options.fetch(sessionUrl(options.baseUrl), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ token }),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (error) {
    return { ok: false, reason: 'unreachable', retryAfterS: null, message: (error as Error).message };
  }
  if (response.ok) {
    const session = await sessionBody(response);
    if (session) return { ok: true, session };
    return { ok: false, reason: 'refused', retryAfterS: null, message: 'the server answered something that is not a session' };
  }
  const message = await errorMessage(response);
  if (response.status === 401) return { ok: false, reason: 'rejected', retryAfterS: null, message };
  if (response.status === 429) {
    return { ok: false, reason: 'rate-limited', retryAfterS: retryAfterSeconds(response.headers.get('Retry-After')), message };
  }
  return { ok: false, reason: 'refused', retryAfterS: null, message };
}

/** `DELETE /api/session`. Never throws. */
export async function signOut(options: SessionOptions): Promise<SignOutResult> {
  let response: Response;
  try {
    response = await options.fetch(sessionUrl(options.baseUrl), {
      method: 'DELETE',
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
  if (!response.ok) return { ok: false, message: await errorMessage(response) };
  const session = await sessionBody(response);
  return session ? { ok: true, session } : { ok: false, message: 'the server answered something that is not a session' };
}
