// The dashboard: health light, report time and age, summary counts computed from the repositories
// (with a note where the producer's summary disagrees), charts by status, search and status filter,
// and the repository cards. On `/audit/:repo` it highlights that repository and scrolls to it.
import { lazy, startTransition, Suspense, useCallback, useDeferredValue, useEffect, useId, useMemo, useState } from 'react';
import { ArrowLeft, Clock, GitBranch, Search, TriangleExclamationPoint } from 'lucide-react';
import { useLiveAudit } from '../../hooks/useWebSocket';
import { useNow } from '../../hooks/useNow';
import { RepositoryCard, repoCardId } from '../../components/RepositoryCard';
import { StatusIndicator } from '../../components/StatusIndicator';
import { Link } from '../../components/Link';
import { keyedRepos, type KeyedRepo } from '../../lib/report';
import { countByStatus, effectiveHealth, isKnownStatus, statusLabel, statusTone, summaryDisagreements } from '../../lib/status';
import { formatDateTime, formatReportAge, parseTimestamp } from '../../lib/time';
import type { Report } from '../../types/protocol';
// The chart library is most of the bundle: load it after the first data is on screen.
const StatusCharts = lazy(() => import('./StatusCharts'));

/** The repository a `/audit/:repo` link points at. */
export interface Focus {
  name: string;
  action: string | null;
}

const SEVERITY: Record<string, number> = { missing: 0, dirty: 1, mismatched: 2, extra: 3, clean: 5 };
const severity = (status: string) => SEVERITY[status] ?? 4;

/** Cards in the first paint; the rest follow in a transition, so first data shows fast. */
const FIRST_PAINT_CARDS = 48;

/** Reports older than this are flagged as stale. */
const STALE_AFTER_MS = 26 * 3_600_000;

function ReportHeader({ report }: { report: Report }) {
  const now = useNow(1000);
  const { health, computed } = effectiveHealth(report);
  const date = parseTimestamp(report.timestamp);
  const age = date ? now - date.getTime() : null;
  return (
    <section className="overview panel" aria-labelledby="overview-title">
      <div className="overview__health">
        <StatusIndicator kind="health" value={health} size="large" />
      </div>
      <div className="overview__text">
        <h1 id="overview-title" className="overview__title">
          GitOps audit
        </h1>
        <p className="overview__meta">
          <Clock aria-hidden="true" size={14} />
          {date ? (
            <>
              Report of <time dateTime={date.toISOString()}>{formatDateTime(date)}</time>
              <span className={age !== null && age > STALE_AFTER_MS ? 'age age--stale' : 'age'}>{formatReportAge(age ?? 0)}</span>
            </>
          ) : report.timestamp ? (
            <>Report time {report.timestamp} (unreadable)</>
          ) : (
            <>The report has no timestamp</>
          )}
        </p>
        {(report.github_user || report.local_git_root) && (
          <p className="overview__meta">
            <GitBranch aria-hidden="true" size={14} />
            {report.github_user && (
              <span>
                GitHub <strong>{report.github_user}</strong>
              </span>
            )}
            {report.local_git_root && (
              <span>
                local root <code>{report.local_git_root}</code>
              </span>
            )}
          </p>
        )}
        {report.health_status !== undefined && health !== computed && (
          <p className="note">
            <TriangleExclamationPoint aria-hidden="true" size={14} /> The producer says <strong>{String(health)}</strong>; the repository
            list makes it <strong>{computed}</strong>.
          </p>
        )}
      </div>
    </section>
  );
}

function SummaryTiles({
  report,
  statusFilter,
  onFilter,
}: {
  report: Report;
  statusFilter: string | null;
  onFilter: (status: string | null) => void;
}) {
  const counts = useMemo(() => countByStatus(report.repos), [report.repos]);
  const disagreements = useMemo(() => summaryDisagreements(report.summary, report.repos), [report.summary, report.repos]);
  const shown = counts.filter((c) => isKnownStatus(c.status) || c.count > 0);
  return (
    <section aria-labelledby="summary-title" className="summary">
      <h2 id="summary-title" className="visually-hidden">
        Summary
      </h2>
      <ul className="tiles">
        <li>
          <button
            type="button"
            className="tile tile--total"
            aria-label={`Total: ${report.repos.length}`}
            aria-pressed={statusFilter === null}
            onClick={() => onFilter(null)}
          >
            <span className="tile__value">{report.repos.length}</span>
            <span className="tile__label">Total</span>
          </button>
        </li>
        {shown.map((c) => (
          <li key={c.status}>
            <button
              type="button"
              className={`tile tile--${statusTone(c.status)}`}
              aria-label={`${statusLabel(c.status)}: ${c.count}`}
              aria-pressed={statusFilter === c.status}
              onClick={() => onFilter(statusFilter === c.status ? null : c.status)}
            >
              <span className="tile__value">{c.count}</span>
              <span className="tile__label">{statusLabel(c.status)}</span>
            </button>
          </li>
        ))}
      </ul>
      {disagreements.length > 0 && (
        <p className="note" role="note">
          <TriangleExclamationPoint aria-hidden="true" size={14} /> The producer&apos;s summary disagrees with its repository list:{' '}
          {disagreements.map((d, i) => (
            <span key={d.field}>
              {i > 0 && '; '}
              {d.field} {d.producer} in the summary, {d.computed} in the list
            </span>
          ))}
          . Counts here are from the list.
        </p>
      )}
    </section>
  );
}

/** The main screen. */
export function Dashboard({ focus }: { focus: Focus | null }) {
  const { report, changedAt } = useLiveAudit();
  const [query, setQuery] = useState('');
  const [statusFilter, setStatusFilter] = useState<string | null>(null);
  const searchId = useId();
  const statusId = useId();

  // A link to one repository shows it whatever the filters were.
  const focusName = focus?.name ?? null;
  useEffect(() => {
    if (focusName === null) return;
    setQuery('');
    setStatusFilter(null);
  }, [focusName]);

  const repos = report?.repos;
  const keyed = useMemo(() => (repos ? keyedRepos(repos) : []), [repos]);
  const counts = useMemo(() => countByStatus(repos ?? []), [repos]);
  const visible = useMemo(() => {
    const needle = query.trim().toLowerCase();
    return keyed
      .filter(
        (k) => (statusFilter === null || k.repo.status === statusFilter) && (needle === '' || k.repo.name.toLowerCase().includes(needle)),
      )
      .sort((a, b) => severity(a.repo.status) - severity(b.repo.status) || a.repo.name.localeCompare(b.repo.name) || a.dup - b.dup);
  }, [keyed, query, statusFilter]);

  // Charts are the slowest part of a render: let the cards update first.
  const deferredCounts = useDeferredValue(counts);

  const [cardLimit, setCardLimit] = useState(FIRST_PAINT_CARDS);
  const hasReport = report !== null;
  useEffect(() => {
    if (hasReport) startTransition(() => setCardLimit(Number.POSITIVE_INFINITY));
  }, [hasReport]);

  const focused: KeyedRepo[] = focus ? keyed.filter((k) => k.repo.name === focus.name) : [];
  const focusKey = focused[0] ? repoCardId(focused[0].repo.name, focused[0].dup) : null;
  // The charts load after the first paint and push the cards down: scroll again once they are in.
  const [chartsMounted, setChartsMounted] = useState(false);
  const onChartsMounted = useCallback(() => setChartsMounted(true), []);
  useEffect(() => {
    if (!focusKey) return;
    const element = document.getElementById(focusKey);
    element?.scrollIntoView({ block: 'center', behavior: chartsMounted ? 'smooth' : 'auto' });
    element?.querySelector<HTMLElement>('a')?.focus({ preventScroll: true });
  }, [focusKey, chartsMounted]);

  if (!report) return null;
  const mitigations = report.mitigation_actions ?? {};

  return (
    <div className="dashboard">
      <ReportHeader report={report} />

      {focus && (
        <nav className="focusbar panel" aria-label="Repository">
          <Link href="/" className="button button--ghost">
            <ArrowLeft aria-hidden="true" size={16} /> All repositories
          </Link>
          {focused.length > 0 ? (
            <span>
              Showing <strong>{focus.name}</strong>
              {focus.action && (
                <>
                  {' '}
                  · action <strong>{focus.action.replace(/_/g, ' ')}</strong>
                </>
              )}
            </span>
          ) : (
            <span role="alert">
              <strong>{focus.name}</strong> is not in the current report.
            </span>
          )}
        </nav>
      )}

      <SummaryTiles report={report} statusFilter={statusFilter} onFilter={setStatusFilter} />
      <Suspense fallback={<div className="charts charts--loading" aria-hidden="true" />}>
        <StatusCharts counts={deferredCounts} onMounted={onChartsMounted} />
      </Suspense>

      <section className="repos" aria-labelledby="repos-title">
        <div className="repos__toolbar">
          <h2 id="repos-title" className="repos__title">
            Repositories
          </h2>
          <div className="field field--search">
            <Search aria-hidden="true" size={16} />
            <label htmlFor={searchId} className="visually-hidden">
              Search repositories by name
            </label>
            <input
              id={searchId}
              type="search"
              placeholder="Search by name"
              value={query}
              onChange={(event) => setQuery(event.target.value)}
              autoComplete="off"
            />
          </div>
          <div className="field">
            <label htmlFor={statusId}>Status</label>
            <select id={statusId} value={statusFilter ?? ''} onChange={(event) => setStatusFilter(event.target.value || null)}>
              <option value="">All statuses</option>
              {counts
                .filter((c) => isKnownStatus(c.status) || c.count > 0)
                .map((c) => (
                  <option key={c.status} value={c.status}>
                    {statusLabel(c.status)} ({c.count})
                  </option>
                ))}
            </select>
          </div>
          <p className="repos__count" aria-live="polite">
            {visible.length === keyed.length ? `${keyed.length} shown` : `${visible.length} of ${keyed.length} shown`}
          </p>
        </div>
        {visible.length === 0 ? (
          <p className="empty">
            No repository matches{query ? ` “${query}”` : ''}
            {statusFilter ? ` with status ${statusLabel(statusFilter)}` : ''}.
          </p>
        ) : (
          <div className="grid">
            {(focus ? visible : visible.slice(0, cardLimit)).map((k) => (
              <RepositoryCard
                key={k.key}
                repo={k.repo}
                dup={k.dup}
                mitigationText={k.repo.mitigation ? mitigations[k.repo.mitigation] : undefined}
                changedAt={changedAt[k.key]}
                selected={focus !== null && k.repo.name === focus.name}
                action={focus !== null && k.repo.name === focus.name ? focus.action : null}
              />
            ))}
          </div>
        )}
      </section>
    </div>
  );
}
