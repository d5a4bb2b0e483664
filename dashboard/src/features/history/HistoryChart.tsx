// Repositories by status over time, as a stacked area chart (Recharts): one band per status,
// stepped, since counts hold from one point to the next. Clicking the chart opens the dashboard
// as of the nearest point; the chosen pair is marked. Colours come from CSS classes per status.
import { memo, useMemo, useRef } from 'react';
import { useNoTabStops } from '../../hooks/useNoTabStops';
import { Area, AreaChart, CartesianGrid, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { chartRows, chartStatuses } from '../../lib/history';
import { statusLabel, statusTone } from '../../lib/status';
import type { CursorText, HistoryPoint } from '../../types/protocol';

interface Props {
  points: readonly HistoryPoint[];
  /** Called with the point the reader clicked. */
  onPick: (cursor: CursorText) => void;
  /** Points to mark (the compared pair). */
  marks: readonly CursorText[];
}

const DAY_MS = 86_400_000;

function tickFormat(spanMs: number) {
  return (t: number) => {
    const date = new Date(t);
    return spanMs > 2 * DAY_MS
      ? date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
      : date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  };
}

function HistoryChartImpl({ points, onPick, marks }: Props) {
  const statuses = useMemo(() => chartStatuses(points), [points]);
  const rows = useMemo(() => chartRows(points, statuses), [points, statuses]);
  const shown = statuses.filter((status) => rows.some((row) => (row[status] as number) > 0));
  const first = rows[0];
  const last = rows[rows.length - 1];
  const span = first && last ? last.t - first.t : 0;
  const describe = last ? shown.map((status) => `${statusLabel(status)} ${String(last[status])}`).join(', ') : 'no points';
  const markTimes = rows.filter((row) => marks.includes(row.cursor)).map((row) => row.t);
  // Recharts' layer groups are not stops of their own (hooks/useNoTabStops.ts).
  const root = useRef<HTMLElement>(null);
  useNoTabStops(root, 'svg g');
  return (
    <figure className="panel chart history-chart" aria-labelledby="history-chart-caption" ref={root}>
      <figcaption id="history-chart-caption" className="panel__title">
        Repositories by status over time
      </figcaption>
      <div className="chart__body" role="img" aria-label={`Stacked area chart of ${rows.length} points; at the newest: ${describe}`}>
        <ResponsiveContainer width="100%" height={240}>
          <AreaChart
            data={rows}
            margin={{ top: 8, right: 12, bottom: 0, left: -16 }}
            onClick={(state) => {
              const index = Number(state?.activeIndex);
              const row = Number.isInteger(index) ? rows[index] : undefined;
              if (row) onPick(row.cursor);
            }}
          >
            <CartesianGrid vertical={false} className="chart__grid" />
            <XAxis
              dataKey="t"
              type="number"
              scale="time"
              domain={['dataMin', 'dataMax']}
              tickFormatter={tickFormat(span)}
              tickLine={false}
              axisLine={false}
              minTickGap={32}
              className="chart__axis"
            />
            <YAxis allowDecimals={false} tickLine={false} axisLine={false} className="chart__axis" />
            <Tooltip
              wrapperClassName="chart__tooltip"
              isAnimationActive={false}
              labelFormatter={(t) => new Date(Number(t)).toLocaleString()}
            />
            {shown.map((status) => (
              <Area
                key={status}
                dataKey={status}
                name={statusLabel(status)}
                stackId="counts"
                type="stepAfter"
                isAnimationActive={false}
                className={`area area--${statusTone(status)}`}
                fillOpacity={0.75}
              />
            ))}
            {markTimes.map((t) => (
              <ReferenceLine key={t} x={t} className="chart__mark" strokeDasharray="4 3" />
            ))}
          </AreaChart>
        </ResponsiveContainer>
      </div>
      <ul className="legend legend--row" aria-label="Legend">
        {shown.map((status) => (
          <li key={status}>
            <span className={`legend__swatch bg--${statusTone(status)}`} aria-hidden="true" />
            <span className="legend__label">{statusLabel(status)}</span>
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** The chart; re-renders only when its points or marks change. */
const HistoryChart = memo(HistoryChartImpl);
export default HistoryChart;
