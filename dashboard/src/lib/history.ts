// The history API (docs/protocol.md, History): pages of points, the state at a point, the diff
// between two points, one repository's timeline; and the pure functions the History view draws
// with (chart rows, the point at a time, a diff sorted into kinds and filtered by status).
// Requests are plain same-origin fetches; the live connection stays the live store's.
import { parseCursor } from './cursor';
import type {
  CursorText,
  HistoryDiff,
  HistoryPage,
  HistoryPoint,
  Report,
  RepoChange,
  RepoTimeline,
  ServerMessage,
} from '../types/protocol';
import type { FetchLike } from './transports';
import { KNOWN_STATUSES } from './status';

/** Why a history request has no answer. */
export interface HistoryFailure {
  /**
   * `off`: the server keeps no history (`--state-dir none`); `not-retained`: the point is not
   * kept (too old, another epoch); `unavailable`: the log cannot be read now; `signed-out`: the
   * session ended; `failed`: anything else (network, bad answer).
   */
  kind: 'off' | 'not-retained' | 'unavailable' | 'signed-out' | 'failed';
  message: string;
}

/** An answer or why there is none. */
export type HistoryResult<T> = { ok: true; value: T } | { ok: false; failure: HistoryFailure };

const browserFetch: FetchLike = (input, init) => fetch(input, init);

async function failure(response: Response): Promise<HistoryFailure> {
  let code = '';
  let message = `the server answered ${response.status}`;
  try {
    const body = (await response.json()) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string') code = body.error;
    if (typeof body.message === 'string' && body.message) message = body.message;
  } catch {
    // Not JSON: the status says enough.
  }
  if (response.status === 401) return { kind: 'signed-out', message };
  if (code === 'history-off') return { kind: 'off', message };
  if (code === 'not-retained') return { kind: 'not-retained', message };
  if (response.status === 503) return { kind: 'unavailable', message };
  return { kind: 'failed', message };
}

async function getJson<T>(path: string, fetcher: FetchLike, signal?: AbortSignal): Promise<HistoryResult<{ body: T; response: Response }>> {
  let response: Response;
  try {
    response = await fetcher(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin', ...(signal ? { signal } : {}) });
  } catch (error) {
    return { ok: false, failure: { kind: 'failed', message: (error as Error).message } };
  }
  if (!response.ok) return { ok: false, failure: await failure(response) };
  try {
    return { ok: true, value: { body: (await response.json()) as T, response } };
  } catch (error) {
    return { ok: false, failure: { kind: 'failed', message: `not JSON: ${(error as Error).message}` } };
  }
}

/** `GET /api/history`: points older than `before` (newest first). */
export async function fetchHistoryPage(
  options: { before?: CursorText | null; limit?: number; signal?: AbortSignal },
  fetcher: FetchLike = browserFetch,
): Promise<HistoryResult<HistoryPage>> {
  const query = new URLSearchParams();
  if (options.before) query.set('before', options.before);
  if (options.limit) query.set('limit', String(options.limit));
  const text = query.toString();
  const result = await getJson<HistoryPage>(`/api/history${text ? `?${text}` : ''}`, fetcher, options.signal);
  return result.ok ? { ok: true, value: result.value.body } : result;
}

/** A past state: the report at `cursor`. */
export interface PastState {
  cursor: CursorText;
  report: Report;
  /** When that point was published (the response's `Last-Modified`), if the server said. */
  time: Date | null;
}

/** `GET /api/history/<cursor>`: the whole report at that point. */
export async function fetchStateAt(
  cursor: CursorText,
  signal?: AbortSignal,
  fetcher: FetchLike = browserFetch,
): Promise<HistoryResult<PastState>> {
  const result = await getJson<ServerMessage>(`/api/history/${cursor}`, fetcher, signal);
  if (!result.ok) return result;
  const message = result.value.body;
  if (message.type !== 'audit-update')
    return { ok: false, failure: { kind: 'failed', message: `expected an audit-update, got ${message.type}` } };
  const modified = result.value.response.headers.get('Last-Modified');
  const ms = modified ? Date.parse(modified) : Number.NaN;
  return {
    ok: true,
    value: { cursor: `${message.epoch}:${message.seq}`, report: message.data, time: Number.isNaN(ms) ? null : new Date(ms) },
  };
}

/** `GET /api/history/diff`: the changes from one point to another. */
export async function fetchDiff(
  from: CursorText,
  to: CursorText,
  signal?: AbortSignal,
  fetcher: FetchLike = browserFetch,
): Promise<HistoryResult<HistoryDiff>> {
  const query = new URLSearchParams({ from, to });
  const result = await getJson<HistoryDiff>(`/api/history/diff?${query.toString()}`, fetcher, signal);
  return result.ok ? { ok: true, value: result.value.body } : result;
}

/** `GET /api/repos/<name>/history`: one repository's changes, newest first. */
export async function fetchRepoTimeline(
  name: string,
  options: { before?: CursorText | null; limit?: number; signal?: AbortSignal } = {},
  fetcher: FetchLike = browserFetch,
): Promise<HistoryResult<RepoTimeline>> {
  const query = new URLSearchParams();
  if (options.before) query.set('before', options.before);
  if (options.limit) query.set('limit', String(options.limit));
  const text = query.toString();
  const path = `/api/repos/${encodeURIComponent(name)}/history${text ? `?${text}` : ''}`;
  const result = await getJson<RepoTimeline>(path, fetcher, options.signal);
  return result.ok ? { ok: true, value: result.value.body } : result;
}

/** Milliseconds of a point's time (NaN when unreadable). */
export function pointTime(point: Pick<HistoryPoint, 'time'>): number {
  return Date.parse(point.time);
}

/** One row of the status chart: a time and a count per status. */
export type ChartRow = { t: number; cursor: CursorText } & Record<string, number | string>;

/**
 * The stacked chart's series: the known statuses in display order (the most urgent on top of the
 * stack is drawn last), then every unknown status that occurs.
 */
export function chartStatuses(points: readonly HistoryPoint[]): string[] {
  const unknown = new Set<string>();
  for (const point of points)
    for (const status of Object.keys(point.counts)) if (!(KNOWN_STATUSES as readonly string[]).includes(status)) unknown.add(status);
  return [...KNOWN_STATUSES, ...[...unknown].sort()];
}

/** Chart rows oldest first, each status counted (0 where absent). Points without a readable time are left out. */
export function chartRows(points: readonly HistoryPoint[], statuses: readonly string[]): ChartRow[] {
  const rows: ChartRow[] = [];
  for (let i = points.length - 1; i >= 0; i--) {
    const point = points[i]!;
    const t = pointTime(point);
    if (Number.isNaN(t)) continue;
    const row: ChartRow = { t, cursor: point.cursor };
    for (const status of statuses) row[status] = point.counts[status] ?? 0;
    rows.push(row);
  }
  return rows;
}

/** The newest point at or before `time` (ms) among `points` (newest first), or null. */
export function pointAtOrBefore(points: readonly HistoryPoint[], time: number): HistoryPoint | null {
  for (const point of points) {
    if (pointTime(point) <= time) return point;
  }
  return null;
}

/** How one repository differs between two points. */
export type DiffKind = 'added' | 'removed' | 'status' | 'fields';

/** One repository of a diff, sorted into a kind. */
export interface DiffEntry {
  change: RepoChange;
  kind: DiffKind;
  /** The statuses it had at either end (for filtering). */
  statuses: string[];
}

/** The kinds in the order they are shown. */
export const DIFF_KINDS: readonly DiffKind[] = ['status', 'added', 'removed', 'fields'];

/** Words for each kind. */
export const DIFF_KIND_LABELS: Record<DiffKind, string> = {
  status: 'Status changed',
  added: 'Added',
  removed: 'Removed',
  fields: 'Fields changed',
};

/** Sorts a diff's repositories into kinds. */
export function diffEntries(diff: Pick<HistoryDiff, 'repos'>): DiffEntry[] {
  return diff.repos.map((change) => {
    const statuses = [change.old_status, change.new_status].filter((s): s is string => typeof s === 'string');
    const kind: DiffKind =
      change.change === 'added'
        ? 'added'
        : change.change === 'removed'
          ? 'removed'
          : change.old_status !== change.new_status
            ? 'status'
            : 'fields';
    return { change, kind, statuses };
  });
}

/** The entries that had `status` at either end (all when null). */
export function filterByStatus(entries: readonly DiffEntry[], status: string | null): DiffEntry[] {
  return status === null ? [...entries] : entries.filter((entry) => entry.statuses.includes(status));
}

/** Counts per kind. */
export function countKinds(entries: readonly DiffEntry[]): Record<DiffKind, number> {
  const counts: Record<DiffKind, number> = { status: 0, added: 0, removed: 0, fields: 0 };
  for (const entry of entries) counts[entry.kind] += 1;
  return counts;
}

/** Whether `text` is a cursor. */
export function isCursor(text: string | null | undefined): text is CursorText {
  return parseCursor(text) !== null;
}

/**
 * How many live changes arrived after `since` up to `now` (both cursors): the difference in
 * sequence numbers within one epoch; null when the epoch changed (the live state was replaced).
 */
export function changesSince(since: CursorText | null, now: CursorText | null): number | null {
  const a = parseCursor(since);
  const b = parseCursor(now);
  if (!a || !b) return 0;
  if (a.epoch !== b.epoch) return null;
  return Math.max(0, b.seq - a.seq);
}
