// The session gate of the live store. When the server may ask viewers to sign in, nothing
// (re)connects while a check of `/api/session` is out: the next steps wait here and run once the
// server says the viewer may read data. What an answer means is a pure function (`accessAfter`).
import { needsSignIn, readSession, type SessionAnswer, type SessionOptions, type SignInResult } from './session';
import type { Session } from '../types/protocol';

/**
 * Whether this viewer may read data:
 * - `checking`: the server has not said yet (data may show meanwhile, as without sign-in);
 * - `open`: the server asks nobody to sign in (or is older than viewer sign-in);
 * - `signed-in`: it asks, and this viewer is signed in;
 * - `signed-out`: it asks, and this viewer is not: nothing connects until they sign in;
 * - `session-ended`: as `signed-out`, found out while running: the session ended (expired, signed
 *   out elsewhere, the token changed).
 */
export type Access = 'checking' | 'open' | 'signed-in' | 'signed-out' | 'session-ended';

/** Why the session is asked about: the first look, a failure that may mean it ended, a sign-out. */
export type SessionWhy = 'start' | 'transport' | 'sign-out';

/** What an answer does: nothing (no answer), a new access, or the end of the data (signed out). */
export type AccessChange =
  | { kind: 'keep' }
  | { kind: 'access'; access: Access; session: Session | null }
  | { kind: 'end'; access: 'signed-out' | 'session-ended'; session: Session };

/** Whether an access shows no data and holds no connection. */
export function isSignedOut(access: Access): boolean {
  return access === 'signed-out' || access === 'session-ended';
}

/** What the server's answer about the session means for this viewer. */
export function accessAfter(answer: SessionAnswer, why: SessionWhy): AccessChange {
  // No answer: carry on as before; the next failure asks again.
  if (answer.kind === 'unknown') return { kind: 'keep' };
  if (answer.kind === 'absent') return { kind: 'access', access: 'open', session: null };
  const session = answer.session;
  if (!needsSignIn(session)) return { kind: 'access', access: session.required ? 'signed-in' : 'open', session };
  return { kind: 'end', access: why === 'transport' ? 'session-ended' : 'signed-out', session };
}

/** A sign-in as the viewer that left the viewer signed out is a refusal. */
export function viewerSignInRefused(result: SignInResult): SignInResult | null {
  if (!result.ok || !needsSignIn(result.session)) return null;
  return { ok: false, reason: 'refused', retryAfterS: null, message: 'the server did not sign you in' };
}

/** A sign-in as the operator with a token that signs in only a viewer is a refusal. */
export function operatorSignInRefused(result: SignInResult): SignInResult | null {
  if (!result.ok || result.session.operator.signed_in) return null;
  return { ok: false, reason: 'rejected', retryAfterS: null, message: 'that token signs in a viewer, not the operator' };
}

/** The gate. */
export interface SessionGate {
  /** Asks the server, one check at a time (none while signed out, none when sign-in is off). */
  check(why: 'start' | 'transport'): void;
  /** Runs `next` now, or once the check out now allows it. */
  whenAllowed(next: () => void): void;
  /** Forgets the waiting steps (the connection was torn down). */
  drop(): void;
  /** A sign-in or sign-out happened here: answers asked for before it are not applied. */
  bump(): number;
  /** Whether `version` (from `bump`) is still the latest. */
  current(version: number): boolean;
}

/** Makes the gate; `apply` takes each answer that still counts, `allowed` says whether to go on. */
export function createSessionGate(options: {
  enabled: boolean;
  session: SessionOptions;
  signedOut(): boolean;
  started(): boolean;
  apply(answer: SessionAnswer, why: SessionWhy): void;
}): SessionGate {
  let pending: Promise<void> | null = null;
  let waiting: Array<() => void> = [];
  let version = 0;
  return {
    check(why) {
      if (!options.enabled || pending || options.signedOut()) return;
      const mine = version;
      pending = readSession(options.session).then((answer) => {
        pending = null;
        const next = waiting;
        waiting = [];
        if (!options.started()) return;
        if (mine === version) options.apply(answer, why);
        if (!options.signedOut()) for (const step of next) step();
      });
    },
    whenAllowed(next) {
      if (!pending) return next();
      waiting.push(next);
    },
    drop() {
      waiting = [];
    },
    bump: () => ++version,
    current: (asked) => asked === version,
  };
}
