// One repository's timeline on its page: each change with its time, old → new status, and links
// to the dashboard as of then and to what changed since.
import { useEffect, useState } from 'react';
import { ArrowRight, Eye, GitCompareArrows, History as HistoryIcon } from 'lucide-react';
import { Link } from '../../components/Link';
import { StatusIndicator } from '../../components/StatusIndicator';
import { useLiveStore } from '../../hooks/useWebSocket';
import { fetchRepoTimeline, type HistoryFailure } from '../../lib/history';
import { compareHref, pastHref } from '../../lib/historyState';
import { formatDateTime } from '../../lib/time';
import type { RepoEvent } from '../../types/protocol';

type Load = { status: 'loading' } | { status: 'ok'; events: RepoEvent[]; more: boolean } | { status: 'error'; failure: HistoryFailure };

const LIMIT = 50;

/** The timeline of the repository `name`. */
export function RepoTimeline({ name }: { name: string }) {
  const live = useLiveStore((s) => s.cursor);
  const [load, setLoad] = useState<Load>({ status: 'loading' });
  useEffect(() => {
    const abort = new AbortController();
    void fetchRepoTimeline(name, { limit: LIMIT, signal: abort.signal }).then((result) => {
      if (abort.signal.aborted) return;
      setLoad(
        result.ok
          ? { status: 'ok', events: result.value.events, more: result.value.next !== null }
          : { status: 'error', failure: result.failure },
      );
    });
    return () => abort.abort();
  }, [name, live]);
  if (load.status === 'error' && load.failure.kind === 'off') return null;
  return (
    <section className="panel repo-timeline" aria-labelledby="repo-timeline-title">
      <h2 id="repo-timeline-title" className="panel__title">
        <HistoryIcon aria-hidden="true" size={16} /> Timeline of {name}
      </h2>
      {load.status === 'loading' && <p className="muted">Loading…</p>}
      {load.status === 'error' && <p className="note">The timeline cannot be shown: {load.failure.message}</p>}
      {load.status === 'ok' && load.events.length === 0 && <p className="muted">No change of this repository is kept.</p>}
      {load.status === 'ok' && load.events.length > 0 && (
        <ol className="repo-timeline__list">
          {load.events.map((event) => {
            const time = new Date(Date.parse(event.time));
            return (
              <li key={event.cursor} className="repo-timeline__event" data-cursor={event.cursor}>
                <time dateTime={event.time}>{formatDateTime(time)}</time>
                <span className="repo-timeline__change">
                  {event.old_status !== null ? (
                    <StatusIndicator kind="repo" value={event.old_status} />
                  ) : (
                    <span className="muted">added</span>
                  )}
                  <ArrowRight aria-label="to" size={13} />
                  {event.new_status !== null ? (
                    <StatusIndicator kind="repo" value={event.new_status} />
                  ) : (
                    <span className="muted">removed</span>
                  )}
                </span>
                <span className="repo-timeline__actions">
                  <Link
                    href={pastHref(event.cursor, name)}
                    className="button button--ghost"
                    aria-label={`As of then: ${name} at ${formatDateTime(time)}`}
                  >
                    <Eye aria-hidden="true" size={15} /> As of then
                  </Link>
                  {live && live !== event.cursor && (
                    <Link
                      href={compareHref(event.cursor, live)}
                      className="button button--ghost"
                      aria-label={`Since then: what changed after ${formatDateTime(time)}`}
                    >
                      <GitCompareArrows aria-hidden="true" size={15} /> Since then
                    </Link>
                  )}
                </span>
              </li>
            );
          })}
          {load.more && <li className="muted">Older changes are kept too; see History.</li>}
        </ol>
      )}
    </section>
  );
}
