// Snoozing one repository's notifications: on its page a panel with "Snooze notifications" for
// 1 h, 4 h, 1 day or 1 week, or, while snoozed, "Notifications snoozed until <time>" and "Wake";
// on its card the snoozed line only (with Wake), so a snoozed repository is never a surprise.
// Shown only to a signed-in operator on a server with notifications on.
import { useState } from 'react';
import { BellOff, BellRing, CircleAlert } from 'lucide-react';
import { useNow } from '../../hooks/useNow';
import { activeSnooze, SNOOZE_CHOICES, type Snooze } from '../../lib/notifications';
import { formatDateTime } from '../../lib/time';
import { useNotify, useWantNotify } from './state';

function until(snooze: Snooze): string {
  const date = new Date(snooze.until);
  return Number.isNaN(date.getTime()) ? snooze.until : formatDateTime(date);
}

/** The running snooze on `repo` (null when none), or undefined when notifications are not shown. */
function useSnooze(repo: string): Snooze | null | undefined {
  const notify = useNotify();
  if (notify?.state.status !== 'ok') return undefined;
  return activeSnooze(notify.state.overview.snoozes, repo, Date.now());
}

function useChange() {
  const notify = useNotify();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function run(work: Parameters<NonNullable<typeof notify>['change']>[0]) {
    if (!notify) return;
    setBusy(true);
    setError(null);
    setError(await notify.change(work));
    setBusy(false);
  }
  return { busy, error, run };
}

function SnoozedNote({ repo, snooze, busy, onWake }: { repo: string; snooze: Snooze; busy: boolean; onWake: () => void }) {
  return (
    <p className="snooze__note" role="status">
      <BellOff aria-hidden="true" size={14} />
      <span>
        Notifications snoozed until <time dateTime={snooze.until}>{until(snooze)}</time>
      </span>
      <button type="button" className="button button--small" disabled={busy} onClick={onWake}>
        <BellRing aria-hidden="true" size={13} /> Wake <span className="visually-hidden">{repo}</span>
      </button>
    </p>
  );
}

/** The panel on a repository's page. */
export function RepoSnooze({ repo }: { repo: string }) {
  // Drawn again once a minute, so a snooze that ran out while the page was open goes.
  useNow(60_000);
  useWantNotify();
  const snooze = useSnooze(repo);
  const { busy, error, run } = useChange();
  if (snooze === undefined) return null;
  return (
    <section className="panel snooze" aria-label="Notifications">
      {snooze ? (
        <SnoozedNote repo={repo} snooze={snooze} busy={busy} onWake={() => void run((c) => c.wake(repo))} />
      ) : (
        <div className="snooze__choices" role="group" aria-labelledby="snooze-label">
          <span id="snooze-label" className="snooze__label">
            <BellOff aria-hidden="true" size={14} /> Snooze notifications
          </span>
          {SNOOZE_CHOICES.map((choice) => (
            <button
              key={choice.span}
              type="button"
              className="button button--small"
              disabled={busy}
              data-snooze={choice.span}
              onClick={() => void run((c) => c.snooze(repo, choice.span))}
            >
              {choice.label}
            </button>
          ))}
        </div>
      )}
      {error && (
        <p className="action-error" role="alert">
          <CircleAlert aria-hidden="true" size={16} /> <span>{error}</span>
        </p>
      )}
    </section>
  );
}

/** On a card: the snoozed line, when the repository is snoozed. */
export function CardSnooze({ repo }: { repo: string }) {
  const snooze = useSnooze(repo);
  const { busy, error, run } = useChange();
  if (!snooze) return null;
  return (
    <div className="snooze snooze--card">
      <SnoozedNote repo={repo} snooze={snooze} busy={busy} onWake={() => void run((c) => c.wake(repo))} />
      {error && (
        <p className="action-error" role="alert">
          <CircleAlert aria-hidden="true" size={16} /> <span>{error}</span>
        </p>
      )}
    </div>
  );
}
