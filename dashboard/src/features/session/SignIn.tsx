// Viewer sign-in: the form shown instead of the dashboard when the server asks for a session, and
// the header's part (who is signed in, Sign out). The token is read from the field when the form
// is sent and the field is emptied at once: it lives in no state, no storage, only in that request.
import { useRef, useState, type FormEvent } from 'react';
import { CircleAlert, LockKeyhole, LogOut, UserRound } from 'lucide-react';
import { useLiveStore, shallowEqual } from '../../hooks/useWebSocket';
import { signedInWithToken, type SignInResult } from '../../lib/session';

/** Words for a failed sign-in. */
export function signInErrorText(result: Extract<SignInResult, { ok: false }>): string {
  switch (result.reason) {
    case 'rejected':
      return 'That token was not accepted.';
    case 'rate-limited':
      return result.retryAfterS !== null
        ? `Too many attempts; try again in ${result.retryAfterS} s.`
        : 'Too many attempts; try again in a little while.';
    case 'unreachable':
      return 'The server could not be reached. Check the connection and try again.';
    case 'refused':
      return `The server refused the sign-in: ${result.message}.`;
  }
}

/** The sign-in screen: a token form, or a word about the proxy when the server signs in only that way. */
export function SignIn() {
  const store = useLiveStore();
  const { access, session } = useLiveStore((s) => ({ access: s.access, session: s.session }), shallowEqual);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const acceptsToken = session?.methods.includes('token') ?? true;
  const viaProxy = session?.methods.includes('proxy') ?? false;

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const field = input.current;
    if (!field || busy) return;
    const token = field.value.trim();
    field.value = '';
    if (!token) {
      setError('Enter the access token.');
      field.focus();
      return;
    }
    setBusy(true);
    setError(null);
    const result = await store.signIn(token);
    setBusy(false);
    if (!result.ok) {
      setError(signInErrorText(result));
      input.current?.focus();
    }
  }

  return (
    <div className="signin">
      <section className="panel signin__panel" aria-labelledby="signin-title">
        <div className="signin__icon" aria-hidden="true">
          <LockKeyhole size={22} />
        </div>
        <h1 id="signin-title" className="signin__title">
          Sign in to gitops-live
        </h1>
        {access === 'session-ended' && (
          <p className="signin__note" role="status">
            Your session ended; sign in again.
          </p>
        )}
        {acceptsToken ? (
          <form className="signin__form" onSubmit={(event) => void submit(event)} noValidate>
            <p className="signin__lead">This dashboard is private. Enter the viewer access token to see it.</p>
            <label className="signin__label" htmlFor="signin-token">
              Access token
            </label>
            <input
              ref={input}
              id="signin-token"
              name="token"
              type="password"
              className="signin__input"
              autoComplete="current-password"
              autoCapitalize="off"
              spellCheck={false}
              autoFocus
              required
              aria-invalid={error !== null}
              aria-describedby={error !== null ? 'signin-error' : undefined}
            />
            <p id="signin-error" className="signin__error" role="alert">
              {error !== null && (
                <>
                  <CircleAlert aria-hidden="true" size={16} />
                  <span>{error}</span>
                </>
              )}
            </p>
            <button type="submit" className="button button--primary signin__submit" disabled={busy}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
            {viaProxy && <p className="signin__hint">Or open the dashboard through the reverse proxy that signs you in.</p>}
          </form>
        ) : (
          <p className="signin__lead">
            This server signs viewers in through its reverse proxy. Open the dashboard at the proxy&apos;s address to see it.
          </p>
        )}
      </section>
    </div>
  );
}

/** Who is signed in (a proxy's user name) and a Sign out button for a token session; nothing without sign-in. */
export function SessionMenu() {
  const store = useLiveStore();
  const { access, session } = useLiveStore((s) => ({ access: s.access, session: s.session }), shallowEqual);
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState(false);
  if (access !== 'signed-in' || !session) return null;
  // A signed-in operator signs out from the operator's control (which ends both sessions).
  const canSignOut = signedInWithToken(session) && !session.operator?.signed_in;
  if (!session.user && !canSignOut) return null;

  async function signOut() {
    setBusy(true);
    setFailed(false);
    const result = await store.signOut();
    // On success this component is gone; after a failure the button works again.
    if (!result.ok) {
      setBusy(false);
      setFailed(true);
    }
  }

  return (
    <div className="session" role="group" aria-label="Viewer session">
      {session.user && (
        <span className="session__user" title="Signed in by the reverse proxy">
          <UserRound aria-hidden="true" size={15} />
          <span className="visually-hidden">Signed in as </span>
          <span className="session__name">{session.user}</span>
        </span>
      )}
      {canSignOut && (
        <button type="button" className="button button--ghost session__signout" onClick={() => void signOut()} disabled={busy}>
          <LogOut aria-hidden="true" size={14} />
          <span>Sign out</span>
        </button>
      )}
      {failed && (
        <span className="session__error" role="alert">
          Sign out failed; try again.
        </span>
      )}
    </div>
  );
}
