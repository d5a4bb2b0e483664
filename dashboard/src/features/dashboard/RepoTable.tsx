// The dense view: one row per repository (status, name, attention badges, branch, last commit,
// ahead, behind), sortable by its column headers, virtualised against the window's scroll with
// TanStack Virtual so 10,000 rows cost what a screenful does. Rows have a fixed height (one on wide
// screens, a taller two-line one on narrow ones), so nothing is measured while scrolling.
//
// Row positions are set through React's `style` prop, which writes the element's CSSOM
// (`element.style`), not a style attribute in markup: the strict CSP (`style-src 'self'`) allows it.
import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { ArrowDown, ArrowUp, ChevronsUpDown } from 'lucide-react';
import { StatusIndicator } from '../../components/StatusIndicator';
import { AttentionBadges } from '../../components/AttentionBadges';
import { Link } from '../../components/Link';
import { useMediaQuery } from '../../hooks/useMediaQuery';
import { attentionBadges, derived, lastCommitText } from '../../lib/repoFacts';
import type { KeyedRepo } from '../../lib/report';
import { repoHref } from '../../lib/routes';
import { statusTone } from '../../lib/status';
import { firstDirection, type Sort, type SortKey } from '../../lib/viewState';

/** Row heights in px; styles.css gives `.trow` the same. */
export const ROW_HEIGHT = 44;
export const ROW_HEIGHT_NARROW = 68;
const NARROW = '(max-width: 720px)';

/** The DOM id of a repository's row. */
export function repoRowId(name: string, dup: number): string {
  return `row-${encodeURIComponent(name)}-${dup}`;
}

interface Column {
  key: string;
  label: string;
  sort?: SortKey;
  className: string;
}

const COLUMNS: readonly Column[] = [
  { key: 'status', label: 'Status', sort: 'status', className: 'tcell--status' },
  { key: 'name', label: 'Name', sort: 'name', className: 'tcell--name' },
  { key: 'flags', label: 'Needs attention', className: 'tcell--flags' },
  { key: 'branch', label: 'Branch', className: 'tcell--branch' },
  { key: 'commit', label: 'Last commit', sort: 'commit', className: 'tcell--commit' },
  { key: 'ahead', label: 'Ahead', sort: 'ahead', className: 'tcell--ahead' },
  { key: 'behind', label: 'Behind', sort: 'behind', className: 'tcell--behind' },
];

function SortIcon({ active, desc }: { active: boolean; desc: boolean }) {
  if (!active) return <ChevronsUpDown aria-hidden="true" size={14} className="tsort__icon tsort__icon--idle" />;
  return desc ? (
    <ArrowDown aria-hidden="true" size={14} className="tsort__icon" />
  ) : (
    <ArrowUp aria-hidden="true" size={14} className="tsort__icon" />
  );
}

/** A cell with nothing known: a dash on wide screens, nothing on narrow ones. */
function Unknown() {
  return (
    <span className="muted" aria-label="unknown">
      —
    </span>
  );
}

function Count({ className, label, value }: { className: string; label: string; value: number | null }) {
  const classes = ['tcell', className];
  if (value === null) classes.push('tcell--null');
  else if (value === 0) classes.push('tcell--zero');
  return (
    <div role="cell" className={classes.join(' ')}>
      <span className="tlabel" aria-hidden="true">
        {label}
      </span>
      {value ?? <Unknown />}
    </div>
  );
}

interface RowProps {
  entry: KeyedRepo;
  index: number;
  start: number;
  height: number;
  changed: boolean;
  selected: boolean;
  linkSuffix: string;
  /** The current day number: a new day re-renders the row, so ages stay true. */
  day: number;
}

const Row = memo(function Row({ entry, index, start, height, changed, selected, linkSuffix }: RowProps) {
  const { repo, dup } = entry;
  const status = typeof repo.status === 'string' ? repo.status : String(repo.status);
  const facts = derived(repo);
  const badges = attentionBadges(repo);
  const commit = lastCommitText(repo, Date.now());
  const href = repoHref(repo.name, repo.dashboard_link);
  const branch = repo.detached === true ? 'detached' : typeof repo.branch === 'string' ? repo.branch : null;
  return (
    <div
      role="row"
      aria-rowindex={index + 2}
      id={repoRowId(repo.name, dup)}
      className={`trow trow--${statusTone(status)}${changed ? ' trow--changed' : ''}${selected ? ' trow--selected' : ''}`}
      aria-current={selected ? 'true' : undefined}
      data-status={status}
      style={{ transform: `translateY(${start}px)`, height }}
    >
      <div role="cell" className="tcell tcell--status">
        <StatusIndicator kind="repo" value={status} />
      </div>
      <div role="cell" className="tcell tcell--name">
        <Link href={`${href}${href.includes('?') ? '&' : '?'}${linkSuffix}`} title={repo.name}>
          {repo.name}
        </Link>
        {dup > 0 && <span className="card__dup">#{dup + 1}</span>}
      </div>
      <div role="cell" className="tcell tcell--flags">
        <AttentionBadges badges={badges} compact />
      </div>
      <div role="cell" className="tcell tcell--branch">
        {branch && <code title={branch}>{branch}</code>}
      </div>
      <div role="cell" className={commit === null ? 'tcell tcell--commit tcell--null' : 'tcell tcell--commit'}>
        {commit ?? <Unknown />}
      </div>
      <Count className="tcell--ahead" label="↑" value={facts.ahead} />
      <Count className="tcell--behind" label="↓" value={facts.behind} />
    </div>
  );
});

export interface RepoTableProps {
  rows: readonly KeyedRepo[];
  sort: Sort;
  onSort: (sort: Sort) => void;
  changedAt: Readonly<Record<string, number>>;
  /** How long a live change is highlighted, ms. */
  highlightMs?: number;
  day: number;
  /** The name of the repository a `/audit/:repo` link points at. */
  selected?: string | null;
}

/** The table of repositories. */
export function RepoTable({ rows, sort, onSort, changedAt, highlightMs = 2500, day, selected = null }: RepoTableProps) {
  const narrow = useMediaQuery(NARROW);
  const rowHeight = narrow ? ROW_HEIGHT_NARROW : ROW_HEIGHT;
  const bodyRef = useRef<HTMLDivElement>(null);

  // Where the rows start on the page: the virtualiser needs it to map the window's scroll to
  // rows. It moves when things above load (the charts) or wrap, so it is measured again then.
  const [scrollMargin, setScrollMargin] = useState(0);
  useLayoutEffect(() => {
    const body = bodyRef.current;
    if (!body) return;
    const measure = () => setScrollMargin(Math.round(body.getBoundingClientRect().top + window.scrollY));
    measure();
    // Anything above that grows or shrinks changes the body's size too.
    const observer = new ResizeObserver(measure);
    observer.observe(document.body);
    window.addEventListener('resize', measure);
    return () => {
      observer.disconnect();
      window.removeEventListener('resize', measure);
    };
  }, []);

  const virtualizer = useWindowVirtualizer({
    count: rows.length,
    estimateSize: () => rowHeight,
    overscan: 10,
    scrollMargin,
    getItemKey: (index) => rows[index]?.key ?? index,
  });
  useEffect(() => {
    virtualizer.measure();
  }, [virtualizer, rowHeight]);

  const items = virtualizer.getVirtualItems();
  const now = Date.now();
  const linkSuffix = 'view=table';
  const sortedBy = useMemo(() => COLUMNS.find((c) => c.sort === sort.key)?.label ?? sort.key, [sort.key]);

  return (
    <div role="table" className="rtable" aria-label={`Repositories, sorted by ${sortedBy.toLowerCase()}`} aria-rowcount={rows.length + 1}>
      <div role="rowgroup" className="thead">
        <div role="row" aria-rowindex={1} className="thead__row">
          {COLUMNS.map((column) => {
            const active = column.sort === sort.key;
            return (
              <div
                role="columnheader"
                key={column.key}
                className={`tcell ${column.className}`}
                aria-sort={column.sort ? (active ? (sort.desc ? 'descending' : 'ascending') : 'none') : undefined}
              >
                {column.sort ? (
                  <button
                    type="button"
                    className={active ? 'tsort tsort--active' : 'tsort'}
                    onClick={() => onSort({ key: column.sort!, desc: active ? !sort.desc : firstDirection(column.sort!) })}
                  >
                    {column.label}
                    <SortIcon active={active} desc={sort.desc} />
                  </button>
                ) : (
                  <span className="tsort tsort--static">{column.label}</span>
                )}
              </div>
            );
          })}
        </div>
      </div>
      <div role="rowgroup" className="tbody" ref={bodyRef} style={{ height: virtualizer.getTotalSize() }}>
        {items.map((item) => {
          const entry = rows[item.index];
          if (!entry) return null;
          const at = changedAt[entry.key];
          return (
            <Row
              key={entry.key}
              entry={entry}
              index={item.index}
              start={item.start - scrollMargin}
              height={rowHeight}
              changed={at !== undefined && now - at < highlightMs}
              selected={entry.repo.name === selected}
              linkSuffix={linkSuffix}
              day={day}
            />
          );
        })}
      </div>
    </div>
  );
}
