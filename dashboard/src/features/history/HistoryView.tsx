// The History view: repositories by status over time, the list of changes (time, repositories,
// old → new), a time picker that opens the dashboard as of then, and two points compared. The
// compared pair and the status filter live in the URL (`/history?from=…&to=…&status=…`).
import { lazy, Suspense, useCallback, useEffect, useId, useMemo, useRef, useState } from 'react';
import { ArrowRight, CalendarClock, Eye, GitCompareArrows } from 'lucide-react';
import { Link } from '../../components/Link';
import { StatusIndicator } from '../../components/StatusIndicator';
import { navigate, useLocation } from '../../hooks/useLocation';
import { useLiveStore } from '../../hooks/useWebSocket';
import { fetchHistoryPage, pointAtOrBefore, pointTime, type HistoryFailure } from '../../lib/history';
import { compareHref, pastHref, readHistoryParams, writeHistoryParams } from '../../lib/historyState';
import { formatDateTime } from '../../lib/time';
import type { CursorText, HistoryImport, HistoryPoint } from '../../types/protocol';
import { DiffPanel } from './DiffPanel';
// The chart library loads after the list is on screen.
const HistoryChart = lazy(() => import('./HistoryChart'));

/** Points asked for per page. */
const PAGE = 200;
/** Points asked for when refreshing after a live change. */
const REFRESH_PAGE = 50;
/** The shortest time between two refreshes. */
const REFRESH_MS = 3_000;
/** Pages the time picker may load to reach an older time. */
const PICKER_PAGES = 20;

type Pages =
  | { status: 'loading' }
  | { status: 'error'; failure: HistoryFailure }
  | { status: 'ok'; points: HistoryPoint[]; next: CursorText | null; import: HistoryImport | null };

function ImportNote({ summary }: { summary: HistoryImport }) {
  return (
    <div className="note history__import" role="note">
      <p>
        The history starts with {summary.imported} {summary.imported === 1 ? 'snapshot' : 'snapshots'} imported from{' '}
        <code>{summary.from}</code>
        {summary.unchanged > 0 && `, ${summary.unchanged} unchanged`}
        {summary.too_old > 0 && `; ${summary.too_old} older than what the log keeps were left out`}.
        {summary.error && ` The import stopped early: ${summary.error}.`}
      </p>
      {summary.skipped.length > 0 && (
        <>
          <p>
            {summary.skipped.length} {summary.skipped.length === 1 ? 'file was' : 'files were'} skipped:
          </p>
          <ul className="history__skipped">
            {summary.skipped.map((skipped) => (
              <li key={skipped.file}>
                <code>{skipped.file}</code>: {skipped.error}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

function TimePicker({ onPick, disabled }: { onPick: (time: number) => void; disabled: boolean }) {
  const id = useId();
  const [text, setText] = useState('');
  return (
    <form
      className="history__picker"
      onSubmit={(event) => {
        event.preventDefault();
        const ms = Date.parse(text);
        if (!Number.isNaN(ms)) onPick(ms);
      }}
    >
      <label htmlFor={id}>
        <CalendarClock aria-hidden="true" size={16} /> Show the dashboard as of
      </label>
      <input
        id={id}
        name="at-time"
        type="datetime-local"
        step={1}
        value={text}
        onChange={(event) => setText(event.target.value)}
        required
      />
      <button type="submit" className="button" disabled={disabled || text === ''}>
        Show
      </button>
    </form>
  );
}

function Transitions({ point }: { point: HistoryPoint }) {
  if (point.kind === 'snapshot')
    return <span className="muted">Whole state ({Object.values(point.counts).reduce((a, b) => a + b, 0)} repositories)</span>;
  if (point.repos_changed === 0) return <span className="muted">Report fields changed</span>;
  return (
    <ul className="point__repos">
      {point.repos.map((t) => (
        <li key={`${t.name}\u0000${t.dup ?? 0}`} className="point__repo">
          <span className="point__name">{t.name}</span>
          {t.old_status !== null ? <StatusIndicator kind="repo" value={t.old_status} /> : <span className="muted">new</span>}
          <ArrowRight aria-label="to" size={13} />
          {t.new_status !== null ? <StatusIndicator kind="repo" value={t.new_status} /> : <span className="muted">removed</span>}
        </li>
      ))}
      {point.repos_changed > point.repos.length && <li className="muted">and {point.repos_changed - point.repos.length} more</li>}
    </ul>
  );
}

/** The History page. */
export function HistoryView() {
  const { href } = useLocation();
  const search = useMemo(() => new URL(href, 'http://local').searchParams, [href]);
  const params = useMemo(() => readHistoryParams(search), [search]);
  const live = useLiveStore((s) => s.cursor);
  const [pages, setPages] = useState<Pages>({ status: 'loading' });
  const [loadingMore, setLoadingMore] = useState(false);
  const [pickerNote, setPickerNote] = useState<string | null>(null);
  // The pair chosen in the list, before "Compare" puts it in the URL.
  const [pick, setPick] = useState<{ from: CursorText | null; to: CursorText | null }>({ from: params.from, to: params.to });
  useEffect(() => setPick({ from: params.from, to: params.to }), [params.from, params.to]);

  // The first page, then the newest points again whenever the live state moves on, at most
  // every REFRESH_MS (each page costs the server one rebuild of a past state).
  const lastFetch = useRef(0);
  useEffect(() => {
    const abort = new AbortController();
    const first = lastFetch.current === 0;
    const wait = Math.max(0, lastFetch.current + REFRESH_MS - Date.now());
    const refresh = (limit: number) =>
      fetchHistoryPage({ limit, signal: abort.signal }).then((result) => {
        if (abort.signal.aborted) return;
        if (!result.ok) {
          setPages({ status: 'error', failure: result.failure });
          return;
        }
        const fresh = result.value;
        setPages((previous) => {
          // New points go on top of the pages already loaded, as long as they join up with them;
          // otherwise (a gap of more than a page) the list starts again from the fresh page.
          if (previous.status !== 'ok') return { status: 'ok', points: fresh.points, next: fresh.next, import: fresh.import };
          const known = new Set(previous.points.map((point) => point.cursor));
          const joins = fresh.next === null || fresh.points.some((point) => known.has(point.cursor));
          if (!joins) return { status: 'ok', points: fresh.points, next: fresh.next, import: fresh.import };
          const added = fresh.points.filter((point) => !known.has(point.cursor));
          return { status: 'ok', points: [...added, ...previous.points], next: previous.next, import: fresh.import };
        });
      });
    const timer = setTimeout(() => {
      lastFetch.current = Date.now();
      void refresh(first ? PAGE : REFRESH_PAGE);
    }, wait);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [live]);

  const loadOlder = useCallback(async (): Promise<HistoryPoint[] | null> => {
    if (pages.status !== 'ok' || pages.next === null) return null;
    setLoadingMore(true);
    const result = await fetchHistoryPage({ before: pages.next, limit: PAGE });
    setLoadingMore(false);
    if (!result.ok) {
      setPages({ status: 'error', failure: result.failure });
      return null;
    }
    const points = [...pages.points, ...result.value.points];
    setPages({ status: 'ok', points, next: result.value.next, import: result.value.import });
    return points;
  }, [pages]);

  const onPickTime = useCallback(
    async (time: number) => {
      if (pages.status !== 'ok') return;
      let points = pages.points;
      let next = pages.next;
      let point = pointAtOrBefore(points, time);
      for (let i = 0; point === null && next !== null && i < PICKER_PAGES; i++) {
        const result = await fetchHistoryPage({ before: next, limit: PAGE });
        if (!result.ok) break;
        points = [...points, ...result.value.points];
        next = result.value.next;
        point = pointAtOrBefore(points, time);
      }
      if (points !== pages.points) setPages({ status: 'ok', points, next, import: pages.import });
      if (point === null) {
        const oldest = points[points.length - 1];
        setPickerNote(
          oldest
            ? `Nothing is kept from that early: the oldest point is ${formatDateTime(new Date(pointTime(oldest)))}.`
            : 'No point is kept yet.',
        );
        return;
      }
      setPickerNote(null);
      navigate(pastHref(point.cursor));
    },
    [pages],
  );

  const onStatus = useCallback((status: string | null) => {
    navigate(`/history${writeHistoryParams(new URLSearchParams(window.location.search), { status })}`, { replace: true });
  }, []);
  const onChartPick = useCallback((cursor: CursorText) => navigate(pastHref(cursor)), []);

  const points = pages.status === 'ok' ? pages.points : [];
  const timeOf = (cursor: CursorText | null) => {
    const point = cursor ? points.find((p) => p.cursor === cursor) : undefined;
    return point ? new Date(pointTime(point)) : null;
  };
  const marks = useMemo(() => [params.from, params.to].filter((c): c is CursorText => c !== null), [params.from, params.to]);
  const newest = points[0];
  const oldest = points[points.length - 1];

  return (
    <div className="history">
      <section className="panel history__head" aria-labelledby="history-title">
        <div>
          <h1 id="history-title" className="overview__title">
            History
          </h1>
          <p className="overview__meta">
            {pages.status === 'ok' && newest && oldest
              ? `${points.length} ${points.length === 1 ? 'point' : 'points'} from ${formatDateTime(new Date(pointTime(oldest)))} to ${formatDateTime(new Date(pointTime(newest)))}${pages.next ? ', older ones on request' : ''}`
              : pages.status === 'loading'
                ? 'Loading…'
                : ''}
          </p>
        </div>
        <TimePicker onPick={(time) => void onPickTime(time)} disabled={pages.status !== 'ok'} />
        {pickerNote && (
          <p className="note" role="alert">
            {pickerNote}
          </p>
        )}
        {pages.status === 'ok' && pages.import && <ImportNote summary={pages.import} />}
      </section>

      {pages.status === 'error' && (
        <p className="note panel" role="alert">
          {pages.failure.kind === 'off' ? 'This server keeps no history. ' : 'The history cannot be shown. '}
          {pages.failure.message}
        </p>
      )}

      {points.length > 0 && (
        <Suspense fallback={<div className="panel chart history-chart history-chart--loading" aria-hidden="true" />}>
          <HistoryChart points={points} onPick={onChartPick} marks={marks} />
        </Suspense>
      )}

      {params.from && params.to && (
        <DiffPanel
          from={params.from}
          to={params.to}
          fromTime={timeOf(params.from)}
          toTime={timeOf(params.to)}
          status={params.status}
          onStatus={onStatus}
        />
      )}

      {pages.status === 'ok' && (
        <section className="panel points" aria-labelledby="points-title">
          <div className="points__toolbar">
            <h2 id="points-title" className="panel__title">
              Changes
            </h2>
            <p className="muted points__hint">Choose two points (from, to) to compare them.</p>
            <button
              type="button"
              className="button button--primary"
              disabled={!pick.from || !pick.to || pick.from === pick.to}
              onClick={() => pick.from && pick.to && navigate(compareHref(pick.from, pick.to, params.status))}
            >
              <GitCompareArrows aria-hidden="true" size={16} /> Compare
            </button>
          </div>
          {points.length === 0 ? (
            <p className="empty">No change has been kept yet.</p>
          ) : (
            <>
              <div className="points__header" aria-hidden="true">
                <span className="point__pick">
                  <span>From</span>
                  <span>To</span>
                </span>
                <span>When</span>
                <span>What changed</span>
              </div>
              <ol className="points__list">
                {points.map((point, index) => {
                  const time = new Date(pointTime(point));
                  const previous = points[index + 1];
                  return (
                    <li
                      key={point.cursor}
                      className={`point${marks.includes(point.cursor) ? ' point--marked' : ''}`}
                      data-cursor={point.cursor}
                    >
                      <div className="point__pick">
                        <label title="Compare from this point">
                          <input
                            type="radio"
                            name="from"
                            value={point.cursor}
                            checked={pick.from === point.cursor}
                            onChange={() => setPick((p) => ({ ...p, from: point.cursor }))}
                          />
                          <span className="visually-hidden">From {formatDateTime(time)}</span>
                        </label>
                        <label title="Compare to this point">
                          <input
                            type="radio"
                            name="to"
                            value={point.cursor}
                            checked={pick.to === point.cursor}
                            onChange={() => setPick((p) => ({ ...p, to: point.cursor }))}
                          />
                          <span className="visually-hidden">To {formatDateTime(time)}</span>
                        </label>
                      </div>
                      <div className="point__when">
                        <time dateTime={point.time}>{formatDateTime(time)}</time>
                        {point.health_status && <StatusIndicator kind="health" value={point.health_status} />}
                      </div>
                      <div className="point__what">
                        <Transitions point={point} />
                      </div>
                      <div className="point__actions">
                        <Link
                          href={pastHref(point.cursor)}
                          className="button button--ghost"
                          aria-label={`View the dashboard as of ${formatDateTime(time)}`}
                        >
                          <Eye aria-hidden="true" size={15} /> View
                        </Link>
                        {previous && (
                          <Link
                            href={compareHref(previous.cursor, point.cursor, params.status)}
                            className="button button--ghost"
                            aria-label={`Diff: what changed at ${formatDateTime(time)}`}
                          >
                            <GitCompareArrows aria-hidden="true" size={15} /> Diff
                          </Link>
                        )}
                      </div>
                    </li>
                  );
                })}
              </ol>
            </>
          )}
          {pages.next && (
            <button type="button" className="button points__more" disabled={loadingMore} onClick={() => void loadOlder()}>
              {loadingMore ? 'Loading…' : 'Load older changes'}
            </button>
          )}
        </section>
      )}
    </div>
  );
}
