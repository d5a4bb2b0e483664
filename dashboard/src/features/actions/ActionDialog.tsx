// One action on one repository: the dialog first asks the server for the dry-run preview and
// shows exactly what would happen (the files a commit stages, what a discard loses, the remote URL
// old → new, what moves to the trash, where a clone goes), with what the action needs from the
// user (a commit message; the repository's name typed for discard and delete). Run answers 202;
// the dialog then follows the action's `action-status` (matched by id) to its end, and asks the
// action log meanwhile in case the live connection is not carrying the statuses.
import { useEffect, useId, useState, type ReactNode } from 'react';
import { ArrowRight, CircleAlert, CircleCheck, LoaderCircle } from 'lucide-react';
import { Dialog } from '../../components/Dialog';
import { useLiveStore } from '../../hooks/useWebSocket';
import {
  ACTION_LABELS,
  ACTION_PROGRESS,
  ActionError,
  confirms,
  formatBytes,
  needsTypedName,
  type ActionFields,
  type ActionName,
  type Preview,
} from '../../lib/actions';
import { isFinal, statusFromLog } from '../../lib/actionStatus';
import { formatDateTime } from '../../lib/time';
import type { ActionStatus } from '../../types/protocol';
import { useActionsClient } from './client';

/** How often the dialog asks the action log about a running action, and for how long at most. */
const POLL_MS = 2_000;
const POLL_MAX = 300;

type Phase =
  | { kind: 'loading' }
  | { kind: 'preview-failed'; error: ActionError }
  | { kind: 'ready'; preview: Preview; error: ActionError | null }
  | { kind: 'starting'; preview: Preview }
  | { kind: 'running'; preview: Preview; id: number };

/** Words for a refusal or failure. */
export function errorText(error: unknown): string {
  if (error instanceof ActionError) return error.message;
  return (error as Error)?.message ?? String(error);
}

/** The body of the run request for `action`, from the preview and what the user gave. */
export function runFields(action: ActionName, preview: Preview, input: { message: string; typed: string; entry?: string }): ActionFields {
  switch (action) {
    case 'commit':
      return { message: input.message };
    case 'discard':
      return { confirm: input.typed.trim(), fingerprint: preview.action === 'discard' ? preview.fingerprint : undefined };
    case 'delete':
      return { confirm: input.typed.trim() };
    case 'restore':
      return input.entry ? { entry: input.entry } : preview.action === 'restore' ? { entry: preview.entry } : {};
    default:
      return {};
  }
}

function FromTo({ from, to, fromLabel, toLabel }: { from: ReactNode; to: ReactNode; fromLabel: string; toLabel: string }) {
  return (
    <div className="fromto">
      <div className="fromto__side">
        <span className="fromto__label">{fromLabel}</span>
        <code>{from}</code>
      </div>
      <ArrowRight aria-hidden="true" size={16} className="fromto__arrow" />
      <span className="visually-hidden">to</span>
      <div className="fromto__side">
        <span className="fromto__label">{toLabel}</span>
        <code>{to}</code>
      </div>
    </div>
  );
}

const LOSS_WORDS: Record<string, string> = {
  modified: 'edits lost',
  deleted: 'comes back',
  typechange: 'goes back',
  added: 'deleted (new, staged)',
  untracked: 'deleted (untracked)',
};

function PathList({ items, label }: { items: Array<{ path: string; note: string; tone?: string }>; label: string }) {
  return (
    <ul className="pathlist" aria-label={label}>
      {items.map((item) => (
        <li key={item.path} className="pathlist__item">
          <code>{item.path}</code>
          <span className={item.tone ? `pathlist__note pathlist__note--${item.tone}` : 'pathlist__note'}>{item.note}</span>
        </li>
      ))}
    </ul>
  );
}

/** What the preview says, in words. */
function PreviewBody({ preview }: { preview: Preview }) {
  switch (preview.action) {
    case 'clone':
      return (
        <>
          <FromTo from={preview.url} to={preview.path} fromLabel="From" toLabel="Into" />
          <p className="muted">git is stopped if it takes longer than {preview.timeout_seconds} s.</p>
        </>
      );
    case 'commit':
      return (
        <>
          <p>
            Stages and commits {preview.files.length === 1 ? '1 path' : `${preview.files.length} paths`}
            {preview.branch ? (
              <>
                {' '}
                on <code>{preview.branch}</code>
              </>
            ) : (
              ' on a detached HEAD'
            )}{' '}
            as <strong>{preview.author}</strong>.
          </p>
          <PathList label="Files to commit" items={preview.files.map((f) => ({ path: f.path, note: f.code.replace(/ /g, '·') }))} />
        </>
      );
    case 'discard':
      return (
        <>
          <p className="danger-text">
            <CircleAlert aria-hidden="true" size={16} />
            <span>
              This throws away {preview.lost.length === 1 ? 'the change to 1 path' : `the changes to ${preview.lost.length} paths`} for good
              (tracked files go back to <code>{preview.head.slice(0, 10)}</code>):
            </span>
          </p>
          <PathList
            label="What will be lost"
            items={preview.lost.map((l) => ({ path: l.path, note: LOSS_WORDS[l.loss] ?? l.loss, tone: 'danger' }))}
          />
          {preview.kept.length > 0 && (
            <>
              <p className="muted">Kept (repositories inside the tree):</p>
              <PathList label="Kept" items={preview.kept.map((path) => ({ path, note: 'kept' }))} />
            </>
          )}
        </>
      );
    case 'fix-remote':
      return (
        <>
          <FromTo from={preview.old ?? '(none: it is created)'} to={preview.new} fromLabel={`${preview.remote} now`} toLabel="Becomes" />
          {preview.push_url && (
            <p className="muted">
              The separate push URL <code>{preview.push_url}</code> stays as it is.
            </p>
          )}
        </>
      );
    case 'delete':
      return (
        <>
          <FromTo from={preview.from} to={preview.to} fromLabel="Moves" toLabel="Into the trash" />
          <p>
            {preview.counted_all ? '' : 'At least '}
            {preview.files.toLocaleString('en')} {preview.files === 1 ? 'file' : 'files'}, {formatBytes(preview.bytes)}.
            {preview.changed_paths !== null && preview.changed_paths > 0 && (
              <strong className="danger-text--inline"> It has {preview.changed_paths} uncommitted changes.</strong>
            )}
            {preview.changed_paths === null && ' Not a git repository that could be read.'}
          </p>
          <p className="muted">It can be restored from the trash until the trash is purged.</p>
        </>
      );
    case 'restore':
      return (
        <>
          <FromTo from={preview.from} to={preview.to} fromLabel="From the trash" toLabel="Back to" />
          <p className="muted">Deleted {formatDateTime(new Date(preview.deleted_at))}.</p>
        </>
      );
    case 'push':
    case 'pull': {
      const n = preview.action === 'push' ? preview.ahead : preview.behind;
      return (
        <>
          <p>
            {preview.action === 'push' ? 'Sends' : 'Fast-forwards to'} {n === 1 ? '1 commit' : `${n} commits`}{' '}
            {preview.action === 'push' ? 'to' : 'from'} <code>{preview.upstream}</code> (<code>{preview.url}</code>) on{' '}
            <code>{preview.branch}</code>.
          </p>
          <PathList label="Commits" items={preview.commits.map((c) => ({ path: c.id.slice(0, 10), note: c.summary }))} />
        </>
      );
    }
  }
}

/** The end of an action, or its progress. */
function Progress({ action, status }: { action: ActionName; status: ActionStatus | null }) {
  if (!status || !isFinal(status.state)) {
    return (
      <p className="action-progress" role="status">
        <LoaderCircle aria-hidden="true" size={16} className="spin" /> {capitalise(ACTION_PROGRESS[action] ?? 'running')}…
      </p>
    );
  }
  const ok = status.state === 'done';
  return (
    <div className={`action-result action-result--${status.state}`} role="status">
      {ok ? <CircleCheck aria-hidden="true" size={18} /> : <CircleAlert aria-hidden="true" size={18} />}
      <div>
        <strong>{ok ? 'Done' : status.state === 'refused' ? 'Refused' : status.state === 'failed' ? 'Failed' : 'Interrupted'}</strong>
        {status.summary && <p className="action-result__summary">{status.summary}</p>}
      </div>
    </div>
  );
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export interface ActionDialogProps {
  repo: string;
  action: ActionName;
  /** For a restore: the trash entry. */
  entry?: string;
  onClose: () => void;
}

/** The dialog for one action. */
export function ActionDialog({ repo, action, entry, onClose }: ActionDialogProps) {
  const client = useActionsClient();
  const store = useLiveStore();
  const actions = useLiveStore((s) => s.actions);
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [message, setMessage] = useState('');
  const [typed, setTyped] = useState('');
  const [polled, setPolled] = useState<ActionStatus | null>(null);
  const messageId = useId();
  const typedId = useId();
  const typedHelpId = useId();

  // The preview.
  useEffect(() => {
    let live = true;
    client.preview(repo, action, entry ? { entry } : {}).then(
      (answer) => {
        if (!live) return;
        if (answer.preview.action === 'commit') setMessage(answer.preview.message);
        setPhase({ kind: 'ready', preview: answer.preview, error: null });
      },
      (error: unknown) => {
        if (!live) return;
        const refusal = error instanceof ActionError ? error : new ActionError(0, 'error', errorText(error));
        if (refusal.operatorLost) void store.refreshSession();
        setPhase({ kind: 'preview-failed', error: refusal });
      },
    );
    return () => {
      live = false;
    };
  }, [client, store, repo, action, entry]);

  const runningId = phase.kind === 'running' ? phase.id : null;
  const live = runningId !== null ? (actions[runningId] ?? null) : null;
  const status = live && isFinal(live.state) ? live : (polled ?? live);
  const ended = status !== null && isFinal(status.state);

  // The action log, in case the live statuses do not arrive (polling mode, a dropped socket).
  useEffect(() => {
    if (runningId === null || ended) return;
    let stop = false;
    let n = 0;
    let timer = 0;
    const ask = () => {
      if (stop || n++ >= POLL_MAX) return;
      client.actionEntry(runningId).then(
        (logged) => {
          const next = statusFromLog(logged);
          if (!stop && next && isFinal(next.state)) setPolled(next);
          else if (!stop) timer = window.setTimeout(ask, POLL_MS);
        },
        () => {
          if (!stop) timer = window.setTimeout(ask, POLL_MS);
        },
      );
    };
    timer = window.setTimeout(ask, POLL_MS);
    return () => {
      stop = true;
      window.clearTimeout(timer);
    };
  }, [client, runningId, ended]);

  const label = ACTION_LABELS[action];
  const preview = phase.kind === 'loading' || phase.kind === 'preview-failed' ? null : phase.preview;
  const nameTyped = !needsTypedName(action) || confirms(typed, repo);
  const messageGiven = action !== 'commit' || message.trim() !== '';
  const canRun = phase.kind === 'ready' && nameTyped && messageGiven;

  async function run() {
    if (phase.kind !== 'ready' || !canRun) return;
    const current = phase.preview;
    setPhase({ kind: 'starting', preview: current });
    try {
      const accepted = await client.run(repo, action, runFields(action, current, { message, typed, ...(entry ? { entry } : {}) }));
      setPhase({ kind: 'running', preview: current, id: accepted.id });
    } catch (error) {
      const refusal = error instanceof ActionError ? error : new ActionError(0, 'error', errorText(error));
      if (refusal.operatorLost) void store.refreshSession();
      setPhase({ kind: 'ready', preview: current, error: refusal });
    }
  }

  const footer =
    phase.kind === 'running' || phase.kind === 'preview-failed' ? (
      <button type="button" className="button" onClick={onClose}>
        Close
      </button>
    ) : (
      <>
        <button type="button" className="button" onClick={onClose}>
          Cancel
        </button>
        <button
          type="button"
          className={needsTypedName(action) ? 'button button--danger' : 'button button--primary'}
          disabled={!canRun}
          onClick={() => void run()}
        >
          {phase.kind === 'starting' ? 'Starting…' : label}
        </button>
      </>
    );

  return (
    <Dialog
      title={
        <>
          {label} <span className="dialog__repo">{repo}</span>
        </>
      }
      onClose={onClose}
      footer={footer}
    >
      {phase.kind === 'loading' && (
        <p className="action-progress" role="status">
          <LoaderCircle aria-hidden="true" size={16} className="spin" /> Asking the server what this would do…
        </p>
      )}
      {phase.kind === 'preview-failed' && (
        <p className="action-error" role="alert">
          <CircleAlert aria-hidden="true" size={16} />
          <span>{phase.error.message}</span>
        </p>
      )}
      {preview && (
        <div className="action-preview" data-action={preview.action}>
          <PreviewBody preview={preview} />
        </div>
      )}
      {preview && action === 'commit' && phase.kind !== 'running' && (
        <div className="dialog__field">
          <label htmlFor={messageId}>Commit message</label>
          <textarea
            id={messageId}
            value={message}
            rows={3}
            onChange={(event) => setMessage(event.target.value)}
            disabled={phase.kind !== 'ready'}
            data-autofocus
          />
        </div>
      )}
      {preview && needsTypedName(action) && phase.kind !== 'running' && (
        <div className="dialog__field">
          <label htmlFor={typedId}>
            Type <strong>{repo}</strong> to confirm
          </label>
          <input
            id={typedId}
            type="text"
            value={typed}
            autoComplete="off"
            autoCapitalize="off"
            spellCheck={false}
            onChange={(event) => setTyped(event.target.value)}
            disabled={phase.kind !== 'ready'}
            aria-describedby={typedHelpId}
            aria-invalid={typed !== '' && !nameTyped}
            data-autofocus
          />
          <p id={typedHelpId} className="muted dialog__help">
            {nameTyped ? 'Confirmed.' : `${label} stays disabled until the name matches exactly.`}
          </p>
        </div>
      )}
      {phase.kind === 'ready' && phase.error && (
        <p className="action-error" role="alert">
          <CircleAlert aria-hidden="true" size={16} />
          <span>{phase.error.message}</span>
        </p>
      )}
      {phase.kind === 'running' && <Progress action={action} status={status} />}
    </Dialog>
  );
}
