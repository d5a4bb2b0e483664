// Two points compared: per repository what was added, removed, changed status or changed other
// fields (with the RFC 6902 operations spelled out), and the top-level fields that differ;
// filterable by status, the filter in the URL.
import { useEffect, useId, useMemo, useState } from 'react';
import { ArrowRight } from 'lucide-react';
import { StatusIndicator } from '../../components/StatusIndicator';
import { Link } from '../../components/Link';
import {
  countKinds,
  DIFF_KIND_LABELS,
  DIFF_KINDS,
  diffEntries,
  fetchDiff,
  filterByStatus,
  type DiffEntry,
  type HistoryFailure,
} from '../../lib/history';
import { pastHref } from '../../lib/historyState';
import { statusLabel } from '../../lib/status';
import { formatDateTime } from '../../lib/time';
import type { CursorText, HistoryDiff, JsonPatchOp } from '../../types/protocol';

interface Props {
  from: CursorText;
  to: CursorText;
  /** When each end was published, when known. */
  fromTime: Date | null;
  toTime: Date | null;
  status: string | null;
  onStatus: (status: string | null) => void;
}

type Load = { status: 'loading' } | { status: 'ok'; diff: HistoryDiff } | { status: 'error'; failure: HistoryFailure };

function opText(op: JsonPatchOp): string {
  const path = op.path.replace(/^\//, '').replaceAll('~1', '/').replaceAll('~0', '~') || '(whole)';
  if (op.op === 'remove') return `${path} removed`;
  if (op.op === 'move' || op.op === 'copy') return `${path} ${op.op === 'move' ? 'moved' : 'copied'} from ${op.from}`;
  if (!('value' in op)) return path;
  const value = typeof op.value === 'string' ? op.value : JSON.stringify(op.value);
  return `${path} ${op.op === 'add' ? 'set to' : op.op === 'test' ? 'is' : '→'} ${value}`;
}

function Entry({ entry, to }: { entry: DiffEntry; to: CursorText }) {
  const { change } = entry;
  const ops = change.change === 'changed' ? (change.ops ?? []).filter((op) => op.path !== '/status') : [];
  return (
    <li className={`diff__repo diff__repo--${entry.kind}`} data-name={change.name} data-kind={entry.kind}>
      <div className="diff__head">
        <Link href={pastHref(to, change.name)} className="diff__name">
          {change.name}
          {change.dup ? <span className="muted"> #{change.dup + 1}</span> : null}
        </Link>
        <span className="diff__kind">{DIFF_KIND_LABELS[entry.kind]}</span>
        <span className="diff__statuses">
          {change.old_status !== undefined && <StatusIndicator kind="repo" value={change.old_status} />}
          {change.old_status !== undefined && change.new_status !== undefined && <ArrowRight aria-label="to" size={14} />}
          {change.new_status !== undefined && <StatusIndicator kind="repo" value={change.new_status} />}
        </span>
      </div>
      {ops.length > 0 && (
        <ul className="diff__ops">
          {ops.slice(0, 12).map((op, i) => (
            <li key={i}>
              <code>{opText(op)}</code>
            </li>
          ))}
          {ops.length > 12 && <li className="muted">and {ops.length - 12} more</li>}
        </ul>
      )}
    </li>
  );
}

/** The comparison of two points. */
export function DiffPanel({ from, to, fromTime, toTime, status, onStatus }: Props) {
  const [load, setLoad] = useState<Load>({ status: 'loading' });
  const statusId = useId();
  useEffect(() => {
    const abort = new AbortController();
    setLoad({ status: 'loading' });
    void fetchDiff(from, to, abort.signal).then((result) => {
      if (!abort.signal.aborted) setLoad(result.ok ? { status: 'ok', diff: result.value } : { status: 'error', failure: result.failure });
    });
    return () => abort.abort();
  }, [from, to]);
  const entries = useMemo(() => (load.status === 'ok' ? diffEntries(load.diff) : []), [load]);
  const statuses = useMemo(() => [...new Set(entries.flatMap((e) => e.statuses))].sort(), [entries]);
  const shown = useMemo(() => filterByStatus(entries, status), [entries, status]);
  const counts = countKinds(shown);
  const when = (cursor: CursorText, time: Date | null) =>
    time ? <time dateTime={time.toISOString()}>{formatDateTime(time)}</time> : <code>{cursor}</code>;
  return (
    <section className="panel diff" aria-labelledby="diff-title">
      <div className="diff__toolbar">
        <h2 id="diff-title" className="panel__title">
          Changes from {when(from, fromTime)} to {when(to, toTime)}
        </h2>
        <div className="field">
          <label htmlFor={statusId}>Status</label>
          <select id={statusId} name="diff-status" value={status ?? ''} onChange={(event) => onStatus(event.target.value || null)}>
            <option value="">Any status</option>
            {[...new Set([...statuses, ...(status ? [status] : [])])].map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </div>
      </div>
      {load.status === 'loading' && <p className="muted">Comparing…</p>}
      {load.status === 'error' && (
        <p className="note" role="alert">
          These points cannot be compared: {load.failure.message}
        </p>
      )}
      {load.status === 'ok' && (
        <>
          <p className="diff__summary" aria-live="polite">
            {shown.length === 0
              ? status
                ? `No repository with status ${statusLabel(status)} differs.`
                : 'No repository differs.'
              : DIFF_KINDS.filter((kind) => counts[kind] > 0)
                  .map((kind) => `${DIFF_KIND_LABELS[kind]}: ${counts[kind]}`)
                  .join(' · ')}
            {load.diff.meta && Object.keys(load.diff.meta).length > 0 && <> · Report fields: {Object.keys(load.diff.meta).join(', ')}</>}
          </p>
          {shown.length > 0 && (
            <ul className="diff__list">
              {shown.map((entry) => (
                <Entry key={`${entry.change.name}\u0000${entry.change.dup ?? 0}`} entry={entry} to={to} />
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
