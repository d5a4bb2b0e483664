// `/actions`: the action log (newest first, git's output behind a disclosure, "Older" pages) and
// the trash with a Restore button per entry (preview, then run), then whatever sections the app
// adds (notifications). Operator only; the log is read again whenever an action ends.
import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { ArchiveRestore, CircleAlert, LoaderCircle } from 'lucide-react';
import { useLiveStore } from '../../hooks/useWebSocket';
import { ACTION_LABELS, ActionError, type RepoAction, type TrashList } from '../../lib/actions';
import { formatDateTime } from '../../lib/time';
import type { ActionLogEntry } from '../../types/protocol';
import { ActionDialog, errorText } from './ActionDialog';
import { useActionsClient, useCanAct, useOperator } from './client';

function when(text: string | null): string {
  if (!text) return '';
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : formatDateTime(date);
}

function LogRow({ entry }: { entry: ActionLogEntry }) {
  const name = ACTION_LABELS[entry.action as RepoAction] ?? entry.action;
  return (
    <li className={`log__entry log__entry--${entry.result}`} data-id={entry.id}>
      <div className="log__head">
        <span className={`log__result log__result--${entry.result}`}>{entry.result}</span>
        <strong>{entry.action === 'changes' ? 'Viewed changes' : name}</strong>
        {entry.dry_run && entry.action !== 'changes' && <span className="muted">(preview)</span>}
        {entry.repo && <code>{entry.repo}</code>}
        <span className="muted log__meta">
          #{entry.id} · {entry.who} · <time dateTime={entry.started_at}>{when(entry.started_at)}</time>
        </span>
      </div>
      {entry.summary && <p className="log__summary">{entry.summary}</p>}
      {entry.output && (
        <details className="log__output">
          <summary>Output</summary>
          <pre>{entry.output}</pre>
        </details>
      )}
    </li>
  );
}

function ActionLog() {
  const client = useActionsClient();
  const store = useLiveStore();
  const [entries, setEntries] = useState<ActionLogEntry[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Every dialog logs its preview; most people want what was done.
  const [previews, setPreviews] = useState(false);

  const load = useCallback(
    (before: number | null) => {
      client.actionLog({ limit: 50, before, previews }).then(
        (page) => {
          setEntries((now) => (before === null ? page.actions : [...(now ?? []), ...page.actions]));
          setNext(page.next);
          setError(null);
        },
        (failure: unknown) => {
          if (failure instanceof ActionError && failure.operatorLost) void store.refreshSession();
          setError(errorText(failure));
        },
      );
    },
    [client, store, previews],
  );

  useEffect(() => load(null), [load]);
  // Read the first page again when an action ends.
  useEffect(
    () =>
      store.subscribeActionStatus((status) => {
        if (status.state !== 'running') load(null);
      }),
    [store, load],
  );

  return (
    <section className="panel actions-page__section" aria-labelledby="log-title">
      <h2 id="log-title" className="actions-page__title">
        Action log
      </h2>
      <label className="log__filter">
        <input type="checkbox" checked={previews} onChange={(event) => setPreviews(event.target.checked)} /> Show previews and diff views
      </label>
      {error && (
        <p className="action-error" role="alert">
          <CircleAlert aria-hidden="true" size={16} /> <span>{error}</span>
        </p>
      )}
      {entries === null && !error && (
        <p className="action-progress" role="status">
          <LoaderCircle aria-hidden="true" size={16} className="spin" /> Loading…
        </p>
      )}
      {entries && entries.length === 0 && <p className="empty">No action yet.</p>}
      {entries && entries.length > 0 && (
        <ul className="log">
          {entries.map((entry) => (
            <LogRow key={entry.id} entry={entry} />
          ))}
        </ul>
      )}
      {next !== null && (
        <button type="button" className="button" onClick={() => load(next)}>
          Older
        </button>
      )}
    </section>
  );
}

function Trash() {
  const client = useActionsClient();
  const store = useLiveStore();
  const actions = useLiveStore((s) => s.actions);
  const [trash, setTrash] = useState<TrashList | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [restoring, setRestoring] = useState<{ folder: string; entry: string } | null>(null);
  const ended = Object.values(actions).filter((a) => a.state !== 'running' && (a.action === 'delete' || a.action === 'restore')).length;

  useEffect(() => {
    const abort = new AbortController();
    client.trash(abort.signal).then(setTrash, (failure: unknown) => {
      if (abort.signal.aborted) return;
      if (failure instanceof ActionError && failure.operatorLost) void store.refreshSession();
      setError(errorText(failure));
    });
    return () => abort.abort();
  }, [client, store, ended]);

  return (
    <section className="panel actions-page__section" aria-labelledby="trash-title">
      <h2 id="trash-title" className="actions-page__title">
        Trash
      </h2>
      {trash && <p className="muted">Deleted folders are purged after {trash.purge_after_days} days.</p>}
      {error && (
        <p className="action-error" role="alert">
          <CircleAlert aria-hidden="true" size={16} /> <span>{error}</span>
        </p>
      )}
      {trash && trash.entries.length === 0 && <p className="empty">The trash is empty.</p>}
      {trash && trash.entries.length > 0 && (
        <ul className="pathlist">
          {trash.entries.map((entry) => (
            <li key={entry.entry} className="pathlist__item trash__item">
              <code>{entry.folder}</code>
              <span className="pathlist__note">deleted {when(entry.deleted_at)}</span>
              <button
                type="button"
                className="button button--small"
                onClick={() => setRestoring({ folder: entry.folder, entry: entry.entry })}
              >
                <ArchiveRestore aria-hidden="true" size={14} /> Restore…<span className="visually-hidden"> {entry.folder}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {restoring && <ActionDialog repo={restoring.folder} action="restore" entry={restoring.entry} onClose={() => setRestoring(null)} />}
    </section>
  );
}

/** The page; `sections` (from other features, composed by the app) follow the trash. */
export function ActionsPage({ sections = null }: { sections?: ReactNode }) {
  const canAct = useCanAct();
  const operator = useOperator();
  if (!canAct) {
    const why = operator.available
      ? 'Sign in as the operator to see the action log and the trash.'
      : `This server does not act on repositories${operator.reason ? `: ${operator.reason.replace(/\.$/, '')}` : ''}.`;
    // A signed-in operator on a server that does not act still has the other sections.
    if (operator.signed_in && sections) {
      return (
        <div className="actions-page">
          <h1 className="actions-page__heading">Actions</h1>
          <p className="note panel no-actions" role="note">
            {why}
          </p>
          {sections}
        </div>
      );
    }
    return (
      <div className="placeholder">
        <h1>Actions</h1>
        <p>{why}</p>
      </div>
    );
  }
  return (
    <div className="actions-page">
      <h1 className="actions-page__heading">Actions</h1>
      <ActionLog />
      <Trash />
      {sections}
    </div>
  );
}
