// The action buttons of one repository (a card, the detail page), for a signed-in operator only,
// and only those that fit its status; the newest action on it as a line ("Committing…", then its
// summary); the dialog of the chosen one. A page that cannot act (a viewer, a server without
// actions, a past point: the app passes no actions there) shows nothing.
import { CircleAlert, CircleCheck, LoaderCircle } from 'lucide-react';
import { useLiveStore } from '../../hooks/useWebSocket';
import { ACTION_LABELS, ACTION_PROGRESS, actionsFor, type RepoAction } from '../../lib/actions';
import { isFinal, latestForRepo } from '../../lib/actionStatus';
import type { Repo } from '../../types/protocol';
import { useCanAct, useOperator } from './client';
import { useOpenAction } from './dialogs';

/** The newest action on a repository, in one line. */
function LatestAction({ repo }: { repo: string }) {
  const actions = useLiveStore((s) => s.actions);
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
  const { openAction, local } = useOpenAction();
  if (!canAct) return null;
  const offered = actionsFor(repo);
  // The dialogs live in the app's host (features/actions/dialogs.tsx), so one stays open while
  // its action changes this repository or removes its card.
  return (
    <div className="repo-actions">
      {offered.length > 0 && (
        <div className="repo-actions__buttons" role="group" aria-label={`Actions on ${repo.name}`}>
          {offered.map((action) => (
            <button
              key={action}
              type="button"
              className={action === 'discard' || action === 'delete' ? 'button button--small button--danger-ghost' : 'button button--small'}
              onClick={() => openAction(repo.name, action)}
              data-action={action}
            >
              {ACTION_LABELS[action]}
              {action !== 'changes' && '…'}
            </button>
          ))}
        </div>
      )}
      <LatestAction repo={repo.name} />
      {local}
    </div>
  );
}

/** On a repository's page: why there are no actions, when the server cannot act. */
export function NoActionsNote() {
  const operator = useOperator();
  const session = useLiveStore((s) => s.session);
  // No session answer at all (an old server, or not asked yet): nothing to explain.
  if (!session || operator.available) return null;
  return (
    <p className="note panel no-actions" role="note">
      <CircleAlert aria-hidden="true" size={14} />
      <span>No actions here: {operator.reason ?? 'this server does not act on repositories'}.</span>
    </p>
  );
}
