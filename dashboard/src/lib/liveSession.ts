// The session gate of the live store. When the server may ask viewers to sign in, the store asks
// `GET /api/session` at start (alongside the first snapshot, before any socket) and again before
// retrying after a failure that could mean the session ended; nothing (re)connects while a check
// is out: the next steps wait here and run once the server says the viewer may read data. It also
// signs in and out (lib/session.ts makes the requests). What an answer means is a pure function
// (`accessAfter`).
import {
  needsSignIn,
  readSession,
  signIn as signInRequest,
  signOut as signOutRequest,
  type SessionAnswer,
  type SessionOptions,
} from './session';
import type { LiveStore } from './liveStoreTypes';
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

/** The gate's part of the store's interface. */
export type SessionMethods = Pick<LiveStore, 'signIn' | 'signOut' | 'signInOperator' | 'setSession' | 'refreshSession'>;

/** The gate: the viewer's access and session, the checks, and signing in and out. */
export interface SessionGate {
  /** Signing in and out, and reading the session again: the store offers these as they are. */
  methods: SessionMethods;
  access(): Access;
  session(): Session | null;
  signedOut(): boolean;
  /** Asks the server, one check at a time (none while signed out, none when sign-in is off). */
  check(why: 'start' | 'transport'): void;
  /** Runs `next` now, or once the check out now allows it. */
  whenAllowed(next: () => void): void;
  /** Forgets the waiting steps (the connection was torn down). */
  drop(): void;
  /** Another tab signed in or out: the cookie is shared, so ask the server what holds now. */
  changedElsewhere(signedOutThere: boolean): Promise<void>;
}

/** What the gate tells the store. */
export interface SessionHost {
  started(): boolean;
  /** Access or session changed. */
  changed(): void;
  /** The viewer is not signed in (any more): disconnect, and forget the data and the saved state. */
  ended(): void;
  /** The viewer may read data again: connect. */
  connect(): void;
  /** The operator just signed in: read what the action log missed. */
  operatorSignedIn(): void;
  /** Tells the other tabs. */
  post(message: { kind: 'session-changed'; signedOut: boolean }): void;
  /** A problem worth showing, or `null` when the last one is over. */
  error(message: string | null): void;
}

/** Makes the gate. With `enabled` false the server is never asked and access stays `open`. */
export function createSessionGate(options: { enabled: boolean; requests: SessionOptions; host: SessionHost }): SessionGate {
  const { host, requests } = options;
  let access: Access = options.enabled ? 'checking' : 'open';
  let session: Session | null = null;
  let pending: Promise<void> | null = null;
  let waiting: Array<() => void> = [];
  // Changes on sign-in and sign-out, so an answer asked for before one of them is not applied.
  let version = 0;
  const signedOut = () => isSignedOut(access);

  function apply(answer: SessionAnswer, why: SessionWhy) {
    const change = accessAfter(answer, why);
    if (change.kind === 'keep') return;
    access = change.access;
    session = change.session;
    if (change.kind === 'end') host.ended();
    host.changed();
  }

  /** A session learned outside the checks (the operator signed in): no reconnect. */
  function setSession(next: Session) {
    const wasOperator = session?.operator?.signed_in === true;
    version += 1;
    apply({ kind: 'session', session: next }, 'transport');
    if (!wasOperator && next.operator?.signed_in) host.operatorSignedIn();
  }

  const methods: SessionMethods = {
    setSession,
    async refreshSession() {
      const mine = ++version;
      const answer = await readSession(requests);
      if (mine === version && host.started()) apply(answer, 'transport');
    },
    async signIn(token) {
      const result = await signInRequest(requests, token);
      if (!result.ok) return result;
      if (needsSignIn(result.session)) {
        return { ok: false, reason: 'refused', retryAfterS: null, message: 'the server did not sign you in' };
      }
      version += 1;
      access = result.session.required ? 'signed-in' : 'open';
      session = result.session;
      host.error(null);
      host.post({ kind: 'session-changed', signedOut: false });
      if (host.started()) host.connect();
      return result;
    },
    async signInOperator(token) {
      const result = await signInRequest(requests, token);
      if (!result.ok) return result;
      setSession(result.session);
      if (!result.session.operator.signed_in) {
        return { ok: false, reason: 'rejected', retryAfterS: null, message: 'that token signs in a viewer, not the operator' };
      }
      return result;
    },
    async signOut() {
      const result = await signOutRequest(requests);
      if (!result.ok) {
        host.error(`sign out failed: ${result.message}`);
        return result;
      }
      version += 1;
      apply({ kind: 'session', session: result.session }, 'sign-out');
      host.post({ kind: 'session-changed', signedOut: true });
      return result;
    },
  };

  return {
    methods,
    access: () => access,
    session: () => session,
    signedOut,
    check(why) {
      if (!options.enabled || pending || signedOut()) return;
      const mine = version;
      pending = readSession(requests).then((answer) => {
        pending = null;
        const next = waiting;
        waiting = [];
        if (!host.started()) return;
        if (mine === version) apply(answer, why);
        if (!signedOut()) for (const step of next) step();
      });
    },
    whenAllowed(next) {
      if (!pending) return next();
      waiting.push(next);
    },
    drop() {
      waiting = [];
    },
    async changedElsewhere(signedOutThere) {
      const wasOut = signedOut();
      const mine = ++version;
      const answer = await readSession(requests);
      if (mine !== version || !host.started()) return;
      apply(answer, signedOutThere ? 'sign-out' : 'transport');
      if (wasOut && !signedOut()) host.connect();
    },
  };
}
