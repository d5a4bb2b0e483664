// The dashboard: health light, report time and age (in live-audit mode, when the last audit ran),
// summary counts computed from the repositories (with a note where the producer's summary
// disagrees) and the git states that need attention, charts by status, search and filters, and the
// repositories as cards or as a dense, sortable, virtualised table. The view, sort, filters and
// search live in the URL. On `/audit/:repo` it highlights that repository and scrolls to it.
import {
  lazy,
  startTransition,
  Suspense,
  useCallback,
  useDeferredValue,
  useEffect,
  useId,
  useMemo,
  useState,
  type FocusEvent,
  type ReactNode,
} from 'react';
import { ArrowLeft, Clock, Download, GitBranch, LayoutGrid, Rows3, Search, TriangleExclamationPoint } from 'lucide-react';
import { useLiveStore, shallowEqual } from '../../hooks/useWebSocket';
import { useNow } from '../../hooks/useNow';
import { useViewState } from '../../hooks/useViewState';
import { RepositoryCard, repoCardId } from '../../components/RepositoryCard';
import { StatusIndicator } from '../../components/StatusIndicator';
import { Link } from '../../components/Link';
import { ATTENTION_KINDS, ATTENTION_LABELS, countAttention, hasGitFacts, type Attention } from '../../lib/repoFacts';
import { keyedRepos, type KeyedRepo } from '../../lib/report';
import {
  countByStatus,
  effectiveHealth,
  isAuditSource,
  isKnownStatus,
  statusLabel,
  statusTone,
  summaryDisagreements,
} from '../../lib/status';
import { formatAgo, formatDateTime, formatReportAge, parseTimestamp } from '../../lib/time';
import type { View } from '../../lib/viewState';
import type { ConnectionStatus, CursorText, Report, Repo } from '../../types/protocol';
import { RepoTable } from './RepoTable';
import { pinCard, selectRepos, type Pinned } from './selectRepos';
// The chart library is most of the bundle: load it after the first data is on screen.
const StatusCharts = lazy(() => import('./StatusCharts'));

/** The repository a `/audit/:repo` link points at. */
export interface Focus {
  name: string;
  action: string | null;
}

/** Cards in the first paint; the rest follow in a transition, so first data shows fast. */
const FIRST_PAINT_CARDS = 48;

/** With more repositories than this, and no view chosen in the URL, the list starts as a table. */
export const TABLE_BY_DEFAULT_ABOVE = 200;

/** Reports older than this are flagged as stale. */
const STALE_AFTER_MS = 26 * 3_600_000;

const DAY_MS = 86_400_000;

/** The overview's link, keeping the view and the past point. */
function allHref(view: View | null, at: CursorText | null): string {
  const query = new URLSearchParams();
  if (view) query.set('view', view);
  if (at) query.set('at', at);
  const text = query.toString();
  return text ? `/?${text}` : '/';
}

function ReportTime({ report, serverStatus }: { report: Report; serverStatus: ConnectionStatus | null }) {
  const now = useNow(1000);
  const source = serverStatus?.report;
  // In live-audit mode the report is rewritten only when something changes, so its timestamp
  // ages while the data is current: say when the server last audited instead.
  const audited = isAuditSource(source) ? parseTimestamp(source?.last_loaded) : null;
  if (audited) {
    const age = now - audited.getTime();
    return (
      <p className="overview__meta">
        <Clock aria-hidden="true" size={14} />
        Last audit <time dateTime={audited.toISOString()}>{formatDateTime(audited)}</time>
        <span className={age > STALE_AFTER_MS ? 'age age--stale' : 'age'}>{formatAgo(age)}</span>
      </p>
    );
  }
  const date = parseTimestamp(report.timestamp);
  const age = date ? now - date.getTime() : null;
  return (
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
  );
}

/** Downloads of the current report, for everyone who can see it. */
function ExportLinks() {
  return (
    <p className="export" aria-label="Export the current report">
      <Download aria-hidden="true" size={14} />
      <a href="/api/export.csv" download className="export__link">
        Export CSV
      </a>
      <a href="/api/export.json" download className="export__link">
        Export JSON
      </a>
    </p>
  );
}

function ReportHeader({
  report,
  serverStatus,
  live,
  tools,
}: {
  report: Report;
  serverStatus: ConnectionStatus | null;
  live: boolean;
  tools: ReactNode;
}) {
  const { health, computed } = effectiveHealth(report);
  return (
    <section className="overview panel" aria-labelledby="overview-title">
      <div className="overview__health">
        <StatusIndicator kind="health" value={health} size="large" stale={live && Boolean(serverStatus?.report.stale)} />
      </div>
      <div className="overview__text">
        <h1 id="overview-title" className="overview__title">
          GitOps audit
        </h1>
        <ReportTime report={report} serverStatus={serverStatus} />
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
      {live && (
        <div className="overview__tools">
          {tools}
          <ExportLinks />
        </div>
      )}
    </section>
  );
}

function AttentionTiles({
  counts,
  flag,
  onFlag,
}: {
  counts: Record<Attention, number>;
  flag: Attention | null;
  onFlag: (flag: Attention | null) => void;
}) {
  return (
    <ul className="attention" aria-label="Needs attention besides the status">
      {ATTENTION_KINDS.map((kind) => (
        <li key={kind}>
          <button
            type="button"
            className={`attention__tile attention__tile--${kind}${counts[kind] === 0 ? ' attention__tile--zero' : ''}`}
            aria-pressed={flag === kind}
            onClick={() => onFlag(flag === kind ? null : kind)}
          >
            <span className="attention__value">{counts[kind]}</span> {ATTENTION_LABELS[kind].toLowerCase()}
          </button>
        </li>
      ))}
    </ul>
  );
}

function SummaryTiles({
  report,
  statusFilter,
  onFilter,
  attention,
  flag,
  onFlag,
}: {
  report: Report;
  statusFilter: string | null;
  onFilter: (status: string | null) => void;
  attention: Record<Attention, number> | null;
  flag: Attention | null;
  onFlag: (flag: Attention | null) => void;
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
            aria-pressed={statusFilter === null && flag === null}
            onClick={() => {
              onFilter(null);
              onFlag(null);
            }}
          >
            <span className="tile__value">{report.repos.length}</span> <span className="tile__label">Total</span>
          </button>
        </li>
        {shown.map((c) => (
          <li key={c.status}>
            <button
              type="button"
              className={`tile tile--${statusTone(c.status)}`}
              aria-pressed={statusFilter === c.status}
              onClick={() => onFilter(statusFilter === c.status ? null : c.status)}
            >
              <span className="tile__value">{c.count}</span> <span className="tile__label">{statusLabel(c.status)}</span>
            </button>
          </li>
        ))}
      </ul>
      {attention && <AttentionTiles counts={attention} flag={flag} onFlag={onFlag} />}
      {disagreements.length > 0 && (
        <p className="note" role="note">
          <TriangleExclamationPoint aria-hidden="true" size={14} />
          {/* One text run: the note is a flex row, and its gap would split the sentence at every part. */}
          <span>
            The producer&apos;s summary disagrees with its repository list:{' '}
            {disagreements.map((d) => `${d.field} ${d.producer} in the summary, ${d.computed} in the list`).join('; ')}. Counts here are
            from the list.
          </span>
        </p>
      )}
    </section>
  );
}

function SearchField({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const id = useId();
  // The field keeps its own text while typing; the URL follows, and back/forward set it again.
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  return (
    <div className="field field--search">
      <Search aria-hidden="true" size={16} />
      <label htmlFor={id} className="visually-hidden">
        Search repositories by name
      </label>
      <input
        id={id}
        type="search"
        placeholder="Search by name"
        value={text}
        onChange={(event) => {
          setText(event.target.value);
          onChange(event.target.value);
        }}
        autoComplete="off"
      />
    </div>
  );
}

function ViewSwitch({ view, onView }: { view: View; onView: (view: View) => void }) {
  return (
    <div className="segmented" role="group" aria-label="View">
      <button type="button" className="segmented__button" aria-pressed={view === 'cards'} onClick={() => onView('cards')}>
        <LayoutGrid aria-hidden="true" size={15} /> Cards
      </button>
      <button type="button" className="segmented__button" aria-pressed={view === 'table'} onClick={() => onView('table')}>
        <Rows3 aria-hidden="true" size={15} /> Table
      </button>
    </div>
  );
}

/** A past state shown instead of the live one: read-only, no live highlights. */
export interface Past {
  report: Report;
  cursor: CursorText;
}

const NO_CHANGES: Readonly<Record<string, number>> = {};

/** What the app adds to the dashboard: the operator's tools and each repository's actions. */
export interface DashboardSlots {
  /** Beside the report's header (Audit now, batches); live only. */
  tools?: ReactNode;
  /** A repository's action buttons; a stable function. Never called over a past point. */
  repoActions?: (repo: Repo, dup: number) => ReactNode;
}

/**
 * The main screen: the live report, or `past` when given (read-only: no tools, no actions, no
 * export). `aside` (a repository's timeline, say) goes under the repository bar.
 */
export function Dashboard({
  focus,
  past = null,
  aside = null,
  tools = null,
  repoActions,
}: { focus: Focus | null; past?: Past | null; aside?: ReactNode } & DashboardSlots) {
  // You cannot act on the past.
  const actions = past ? undefined : repoActions;
  const live = useLiveStore((s) => ({ report: s.report, changedAt: s.changedAt, serverStatus: s.serverStatus }), shallowEqual);
  const report = past ? past.report : live.report;
  const changedAt = past ? NO_CHANGES : live.changedAt;
  // The past has no "last audit": its own timestamp says when it was.
  const serverStatus = past ? null : live.serverStatus;
  const [state, setState] = useViewState();
  const statusId = useId();
  const flagId = useId();
  // Ages in days move on once a day; an hourly clock is enough to notice.
  const day = Math.floor(useNow(3_600_000) / DAY_MS);

  const repos = report?.repos;
  const keyed = useMemo(() => (repos ? keyedRepos(repos) : []), [repos]);
  const counts = useMemo(() => countByStatus(repos ?? []), [repos]);
  const attention = useMemo(() => (repos && hasGitFacts(repos) ? countAttention(repos) : null), [repos]);
  const { q: query, status: statusFilter, flag, sort } = state;
  const focusName = focus?.name ?? null;
  const visible = useMemo(
    () => selectRepos(keyed, { q: query, status: statusFilter, flag, sort }, focusName),
    [keyed, query, statusFilter, flag, sort, focusName],
  );
  const view: View = state.view ?? (keyed.length > TABLE_BY_DEFAULT_ABOVE ? 'table' : 'cards');
  // The card holding focus keeps its place (and stays listed) while it has focus, so a live status
  // change does not move it across the grid under the reader; it takes its new place after.
  const [pinned, setPinned] = useState<Pinned | null>(null);
  const cards = useMemo(() => pinCard(visible, keyed, pinned), [visible, keyed, pinned]);
  const onGridFocus = useCallback(
    (event: FocusEvent<HTMLDivElement>) => {
      const id = (event.target as HTMLElement).closest('article')?.id;
      const index = cards.findIndex((k) => repoCardId(k.repo.name, k.dup) === id);
      const key = cards[index]?.key;
      if (key !== undefined && pinned?.key !== key) setPinned({ key, index });
    },
    [cards, pinned],
  );
  const onGridBlur = useCallback((event: FocusEvent<HTMLDivElement>) => {
    const next = event.relatedTarget;
    if (next instanceof Node && event.currentTarget.contains(next)) return;
    setPinned(null);
  }, []);

  // Charts are the slowest part of a render: let the list update first.
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

  const onFilter = useCallback((status: string | null) => setState({ status }), [setState]);
  const onFlag = useCallback((next: Attention | null) => setState({ flag: next }), [setState]);
  // Typing replaces the history entry; starting or clearing a search makes a new one.
  const onQuery = useCallback((q: string) => setState({ q }, { replace: q !== '' && query !== '' }), [setState, query]);

  if (!report) return null;
  const mitigations = report.mitigation_actions ?? {};
  const card = (k: KeyedRepo) => (
    <RepositoryCard
      key={k.key}
      repo={k.repo}
      dup={k.dup}
      mitigationText={k.repo.mitigation ? mitigations[k.repo.mitigation] : undefined}
      changedAt={changedAt[k.key]}
      selected={focus !== null && k.repo.name === focus.name}
      action={focus !== null && k.repo.name === focus.name ? focus.action : null}
      day={day}
      actions={actions}
    />
  );

  return (
    <div className="dashboard">
      <ReportHeader report={report} serverStatus={serverStatus} live={past === null} tools={tools} />

      {focus && (
        <nav className="focusbar panel" aria-label="Repository">
          <Link href={allHref(state.view, past?.cursor ?? null)} className="button button--ghost">
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
      {aside}
      {/* In the table view, the linked repository's card stands above the summary, where the page scrolls to. */}
      {focus && view === 'table' && focused.length > 0 && <div className="grid grid--focus">{focused.map(card)}</div>}

      <SummaryTiles report={report} statusFilter={statusFilter} onFilter={onFilter} attention={attention} flag={flag} onFlag={onFlag} />
      <Suspense fallback={<div className="charts charts--loading" aria-hidden="true" />}>
        <StatusCharts counts={deferredCounts} onMounted={onChartsMounted} />
      </Suspense>

      <section className="repos" aria-labelledby="repos-title">
        <div className="repos__toolbar">
          <h2 id="repos-title" className="repos__title">
            Repositories
          </h2>
          <SearchField value={query} onChange={onQuery} />
          <div className="field">
            <label htmlFor={statusId}>Status</label>
            <select id={statusId} name="status" value={statusFilter ?? ''} onChange={(event) => onFilter(event.target.value || null)}>
              <option value="">All statuses</option>
              {counts
                .filter((c) => isKnownStatus(c.status) || c.count > 0 || c.status === statusFilter)
                .map((c) => (
                  <option key={c.status} value={c.status}>
                    {statusLabel(c.status)} ({c.count})
                  </option>
                ))}
              {statusFilter !== null && !counts.some((c) => c.status === statusFilter) && (
                <option value={statusFilter}>{statusLabel(statusFilter)} (0)</option>
              )}
            </select>
          </div>
          {attention && (
            <div className="field">
              <label htmlFor={flagId}>Attention</label>
              <select
                id={flagId}
                name="flag"
                value={flag ?? ''}
                onChange={(event) => onFlag((event.target.value || null) as Attention | null)}
              >
                <option value="">Any</option>
                {ATTENTION_KINDS.map((kind) => (
                  <option key={kind} value={kind}>
                    {ATTENTION_LABELS[kind]} ({attention[kind]})
                  </option>
                ))}
              </select>
            </div>
          )}
          <ViewSwitch view={view} onView={(next) => setState({ view: next })} />
          <p className="repos__count" aria-live="polite">
            {visible.length === keyed.length ? `${keyed.length} shown` : `${visible.length} of ${keyed.length} shown`}
          </p>
        </div>
        {visible.length === 0 ? (
          <p className="empty">
            No repository matches{query ? ` “${query}”` : ''}
            {statusFilter ? ` with status ${statusLabel(statusFilter)}` : ''}
            {flag ? ` that is ${ATTENTION_LABELS[flag].toLowerCase()}` : ''}.
          </p>
        ) : view === 'table' ? (
          <RepoTable
            rows={visible}
            sort={sort}
            onSort={(next) => setState({ sort: next })}
            changedAt={changedAt}
            day={day}
            selected={focus?.name ?? null}
          />
        ) : (
          <div className="grid" onFocus={onGridFocus} onBlur={onGridBlur}>
            {(focus ? cards : cards.slice(0, cardLimit)).map(card)}
          </div>
        )}
      </section>
    </div>
  );
}
