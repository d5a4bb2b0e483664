// The action buttons of one repository (a card, the detail page), for a signed-in operator only,
// and only those that fit its status; the newest action on it as a line ("Committing…", then its
// summary); the dialog of the chosen one. A page that cannot act (a viewer, a server without
// actions, a past point: the app passes no actions there) shows nothing.
import { useEffect, useState } from 'react';
import { CircleAlert, CircleCheck, LoaderCircle } from 'lucide-react';
import { Dialog } from '../../components/Dialog';
import { useLiveAudit, useLiveStore } from '../../hooks/useWebSocket';
import { ACTION_LABELS, ACTION_PROGRESS, actionsFor, ActionError, type ActionName, type Changes, type RepoAction } from '../../lib/actions';
import { isFinal, latestForRepo } from '../../lib/actionStatus';
import type { Repo } from '../../types/protocol';
import { ActionDialog, errorText } from './ActionDialog';
import { useActionsClient, useCanAct, useOperator } from './client';
import { DiffView } from './DiffView';

/** The changes of a working tree, in a wide dialog. */
export function ChangesDialog({ repo, onClose, onCommit }: { repo: string; onClose: () => void; onCommit?: () => void }) {
  const client = useActionsClient();
  const store = useLiveStore();
  const [changes, setChanges] = useState<Changes | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    client.changes(repo, abort.signal).then(setChanges, (failure: unknown) => {
      if (abort.signal.aborted) return;
      if (failure instanceof ActionError && failure.operatorLost) void store.refreshSession();
      setError(errorText(failure));
    });
    return () => abort.abort();
  }, [client, store, repo]);
  return (
    <Dialog
      size="wide"
      title={
        <>
          Changes in <span className="dialog__repo">{repo}</span>
        </>
      }
      onClose={onClose}
      footer={
        <>
          <button type="button" className="button" onClick={onClose}>
            Close
          </button>
          {onCommit && changes && changes.files.length > 0 && (
            <button type="button" className="button button--primary" onClick={onCommit}>
              Commit…
            </button>
          )}
        </>
      }
    >
      {error ? (
        <p className="action-error" role="alert">
          <CircleAlert aria-hidden="true" size={16} />
          <span>{error}</span>
        </p>
      ) : changes ? (
        <DiffView changes={changes} />
      ) : (
        <p className="action-progress" role="status">
          <LoaderCircle aria-hidden="true" size={16} className="spin" /> Reading the working tree…
        </p>
      )}
    </Dialog>
  );
}

/** The newest action on a repository, in one line. */
function LatestAction({ repo }: { repo: string }) {
  const { actions } = useLiveAudit();
  const latest = latestForRepo(actions, repo);
  if (!latest) return null;
  if (!isFinal(latest.state)) {
    return (
      <p className="repo-actions__status" role="status">
        <LoaderCircle aria-hidden="true" size={14} className="spin" /> {ACTION_PROGRESS[latest.action] ?? latest.action}…
      </p>
    );
  }
  const ok = latest.state === 'done';
  return (
    <p className={`repo-actions__status repo-actions__status--${latest.state}`} role="status">
      {ok ? <CircleCheck aria-hidden="true" size={14} /> : <CircleAlert aria-hidden="true" size={14} />}
      <span>
        {ACTION_LABELS[latest.action as RepoAction] ?? latest.action}: {latest.state}
        {latest.summary ? ` — ${latest.summary}` : ''}
      </span>
    </p>
  );
}

/** Buttons and dialogs for one repository; nothing unless the operator is signed in. */
export function RepoActions({ repo }: { repo: Repo }) {
  const canAct = useCanAct();
  const [open, setOpen] = useState<RepoAction | null>(null);
  if (!canAct) return null;
  const offered = actionsFor(repo);
  // An open dialog stays while its action changes the status (a committed repository is clean
  // and offers nothing more): it shows the end.
  return (
    <div className="repo-actions">
      {offered.length > 0 && (
        <div className="repo-actions__buttons" role="group" aria-label={`Actions on ${repo.name}`}>
          {offered.map((action) => (
            <button
              key={action}
              type="button"
              className={action === 'discard' || action === 'delete' ? 'button button--small button--danger-ghost' : 'button button--small'}
              onClick={() => setOpen(action)}
              data-action={action}
            >
              {ACTION_LABELS[action]}
              {action !== 'changes' && '…'}
            </button>
          ))}
        </div>
      )}
      <LatestAction repo={repo.name} />
      {open === 'changes' && (
        <ChangesDialog
          repo={repo.name}
          onClose={() => setOpen(null)}
          onCommit={offered.includes('commit') ? () => setOpen('commit') : undefined}
        />
      )}
      {open && open !== 'changes' && <ActionDialog repo={repo.name} action={open as ActionName} onClose={() => setOpen(null)} />}
    </div>
  );
}

/** On a repository's page: why there are no actions, when the server cannot act. */
export function NoActionsNote() {
  const operator = useOperator();
  const { session } = useLiveAudit();
  // No session answer at all (an old server, or not asked yet): nothing to explain.
  if (!session || operator.available) return null;
  return (
    <p className="note panel no-actions" role="note">
      <CircleAlert aria-hidden="true" size={14} />
      <span>No actions here: {operator.reason ?? 'this server does not act on repositories'}.</span>
    </p>
  );
}
