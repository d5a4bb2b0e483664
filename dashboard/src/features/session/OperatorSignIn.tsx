// The header's operator control: when the server can act and this page is not the operator, a
// quiet "Sign in as operator" that opens a dialog for the operator token; when it is, a badge and
// Sign out (which ends the viewer session too: `DELETE /api/session` clears both cookies). As with
// the viewer form, the token is read from the field when sent and the field emptied at once.
import { useRef, useState, type FormEvent } from 'react';
import { CircleAlert, KeyRound, LogOut, ShieldCheck } from 'lucide-react';
import { Dialog } from '../../components/Dialog';
import { useLiveStore } from '../../hooks/useWebSocket';
import { operatorSignInOffered } from '../../lib/session';
import { signInErrorText } from './SignIn';

function OperatorDialog({ onClose }: { onClose: () => void }) {
  const store = useLiveStore();
  const input = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const field = input.current;
    if (!field || busy) return;
    const token = field.value.trim();
    field.value = '';
    if (!token) {
      setError('Enter the operator token.');
      field.focus();
      return;
    }
    setBusy(true);
    setError(null);
    const result = await store.signInOperator(token);
    setBusy(false);
    if (result.ok) return onClose();
    setError(
      result.reason === 'rejected' && result.message.includes('viewer')
        ? 'That token signs in a viewer, not the operator.'
        : signInErrorText(result),
    );
    input.current?.focus();
  }

  return (
    <Dialog
      title="Sign in as operator"
      onClose={onClose}
      description="The operator can commit, discard, clone, fix remotes and delete repositories from this dashboard (where the server audits them), and sees and tests notifications."
    >
      <form className="signin__form" onSubmit={(event) => void submit(event)} noValidate>
        <label className="signin__label" htmlFor="operator-token">
          Operator token
        </label>
        <input
          ref={input}
          id="operator-token"
          name="token"
          type="password"
          className="signin__input"
          autoComplete="current-password"
          autoCapitalize="off"
          spellCheck={false}
          required
          data-autofocus
          aria-invalid={error !== null}
          aria-describedby={error !== null ? 'operator-error' : undefined}
        />
        <p id="operator-error" className="signin__error" role="alert">
          {error !== null && (
            <>
              <CircleAlert aria-hidden="true" size={16} />
              <span>{error}</span>
            </>
          )}
        </p>
        <div className="dialog__footer dialog__footer--inline">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The control; nothing when the server has no operator (no token, or an old server). */
export function OperatorMenu() {
  const store = useLiveStore();
  const session = useLiveStore((s) => s.session);
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState(false);
  const operator = session?.operator;
  if (!operator || !operatorSignInOffered(operator)) return null;

  if (!operator.signed_in) {
    return (
      <>
        <button type="button" className="button button--ghost operator__signin" onClick={() => setOpen(true)}>
          <KeyRound aria-hidden="true" size={14} />
          <span>Sign in as operator</span>
        </button>
        {open && <OperatorDialog onClose={() => setOpen(false)} />}
      </>
    );
  }

  async function signOut() {
    setBusy(true);
    setFailed(false);
    const result = await store.signOut();
    setBusy(false);
    if (!result.ok) setFailed(true);
  }

  return (
    <div className="session operator" role="group" aria-label="Operator session">
      <span className="operator__badge" title={operator.expires_at ? `Until ${new Date(operator.expires_at).toLocaleString()}` : undefined}>
        <ShieldCheck aria-hidden="true" size={15} />
        Operator
      </span>
      <button type="button" className="button button--ghost session__signout" onClick={() => void signOut()} disabled={busy}>
        <LogOut aria-hidden="true" size={14} />
        <span>Sign out</span>
      </button>
      {failed && (
        <span className="session__error" role="alert">
          Sign out failed; try again.
        </span>
      )}
    </div>
  );
}
