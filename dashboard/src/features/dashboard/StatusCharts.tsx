// Bar and pie charts of repositories by status (every known status, plus unknown ones), with Recharts.
// Colours come from CSS classes per status, so light and dark themes both apply. Each chart is one
// image with a text alternative; Recharts' keyboard layer is off, so the charts add no tab stops
// (their numbers are in the tiles and the legend).
import { memo, useEffect, useRef, useSyncExternalStore } from 'react';
import { Bar, BarChart, CartesianGrid, Cell, Pie, PieChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useNoTabStops } from '../../hooks/useNoTabStops';
import { statusLabel, statusTone, type StatusCount } from '../../lib/status';

/** The chart rows: label and class per status. */
export function chartRows(counts: readonly StatusCount[]) {
  return counts.map((c) => ({ status: c.status, label: statusLabel(c.status), count: c.count, tone: statusTone(c.status) }));
}

function describe(counts: readonly StatusCount[]): string {
  return counts.map((c) => `${statusLabel(c.status)} ${c.count}`).join(', ');
}

/** Both charts, each with a text alternative. */
const NARROW = '(max-width: 720px)';

function subscribeNarrow(listener: () => void): () => void {
  const query = window.matchMedia(NARROW);
  query.addEventListener('change', listener);
  return () => query.removeEventListener('change', listener);
}

/** Whether the screen is narrow (bars then run sideways, so their labels fit). */
function useNarrow(): boolean {
  return useSyncExternalStore(
    subscribeNarrow,
    () => window.matchMedia(NARROW).matches,
    () => false,
  );
}

interface Props {
  counts: readonly StatusCount[];
  /** Called once the charts are in the page (the layout above the cards is final then). */
  onMounted?: () => void;
}

function StatusChartsImpl({ counts, onMounted }: Props) {
  const narrow = useNarrow();
  const root = useRef<HTMLDivElement>(null);
  useNoTabStops(root, 'svg g');
  useEffect(() => {
    onMounted?.();
  }, [onMounted]);
  const rows = chartRows(counts);
  const nonZero = rows.filter((r) => r.count > 0);
  const total = rows.reduce((sum, r) => sum + r.count, 0);
  return (
    <div className="charts" ref={root}>
      <figure className="panel chart" aria-labelledby="bar-caption">
        <figcaption id="bar-caption" className="panel__title">
          Repositories by status
        </figcaption>
        <div className="chart__body" role="img" aria-label={`Bar chart: ${describe(counts)}`}>
          <ResponsiveContainer width="100%" height={220}>
            {narrow ? (
              <BarChart accessibilityLayer={false} data={rows} layout="vertical" margin={{ top: 0, right: 12, bottom: 0, left: 8 }}>
                <CartesianGrid horizontal={false} className="chart__grid" />
                <XAxis type="number" allowDecimals={false} tickLine={false} axisLine={false} className="chart__axis" />
                <YAxis type="category" dataKey="label" width={100} tickLine={false} axisLine={false} interval={0} className="chart__axis" />
                <Tooltip cursor={{ className: 'chart__cursor' }} wrapperClassName="chart__tooltip" isAnimationActive={false} />
                <Bar dataKey="count" name="Repositories" isAnimationActive={false} radius={[0, 4, 4, 0]}>
                  {rows.map((row) => (
                    <Cell key={row.status} className={`fill--${row.tone}`} />
                  ))}
                </Bar>
              </BarChart>
            ) : (
              <BarChart accessibilityLayer={false} data={rows} margin={{ top: 8, right: 8, bottom: 0, left: -16 }}>
                <CartesianGrid vertical={false} className="chart__grid" />
                <XAxis dataKey="label" tickLine={false} axisLine={false} interval={0} className="chart__axis" />
                <YAxis allowDecimals={false} tickLine={false} axisLine={false} className="chart__axis" />
                <Tooltip cursor={{ className: 'chart__cursor' }} wrapperClassName="chart__tooltip" isAnimationActive={false} />
                <Bar dataKey="count" name="Repositories" isAnimationActive={false} radius={[4, 4, 0, 0]}>
                  {rows.map((row) => (
                    <Cell key={row.status} className={`fill--${row.tone}`} />
                  ))}
                </Bar>
              </BarChart>
            )}
          </ResponsiveContainer>
        </div>
      </figure>
      <figure className="panel chart" aria-labelledby="pie-caption">
        <figcaption id="pie-caption" className="panel__title">
          Share of {total} {total === 1 ? 'repository' : 'repositories'}
        </figcaption>
        <div className="chart__pie">
          <div className="chart__body" role="img" aria-label={`Pie chart: ${describe(counts)}`}>
            <ResponsiveContainer width="100%" height={220}>
              <PieChart accessibilityLayer={false}>
                <Pie
                  data={nonZero}
                  dataKey="count"
                  nameKey="label"
                  innerRadius="52%"
                  outerRadius="88%"
                  paddingAngle={nonZero.length > 1 ? 2 : 0}
                  isAnimationActive={false}
                  stroke="none"
                  rootTabIndex={-1}
                >
                  {nonZero.map((row) => (
                    <Cell key={row.status} className={`fill--${row.tone}`} />
                  ))}
                </Pie>
                <Tooltip wrapperClassName="chart__tooltip" isAnimationActive={false} />
              </PieChart>
            </ResponsiveContainer>
          </div>
          <ul className="legend" aria-label="Legend">
            {nonZero.map((row) => (
              <li key={row.status}>
                <span className={`legend__swatch bg--${row.tone}`} aria-hidden="true" />
                <span className="legend__label">{row.label}</span>
                <span className="legend__value">
                  {row.count} <span className="muted">({Math.round((row.count / Math.max(total, 1)) * 100)}%)</span>
                </span>
              </li>
            ))}
          </ul>
        </div>
      </figure>
    </div>
  );
}

function sameCounts(a: Props, b: Props): boolean {
  return (
    a.onMounted === b.onMounted &&
    a.counts.length === b.counts.length &&
    a.counts.every((c, i) => c.status === b.counts[i]?.status && c.count === b.counts[i]?.count)
  );
}

/** Re-renders only when a count changed (most live changes touch no count). */
const StatusCharts = memo(StatusChartsImpl, sameCounts);
export default StatusCharts;
