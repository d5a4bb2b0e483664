// The repository list's view state, kept in the URL's query string so a reload restores it, a
// link shares it, and back/forward steps through it: `view` (cards | table), `sort` (a key, `-`
// in front for descending), `status`, `flag` (an attention kind) and `q` (the search). Defaults are
// left out of the URL. Other parameters (`action` on /audit/:repo) are kept as they are.
import { isAttention, type Attention } from './repoFacts';

/** How the repositories are shown. */
export type View = 'cards' | 'table';

/** What the list can be sorted by. */
export type SortKey = 'status' | 'name' | 'commit' | 'ahead' | 'behind';

export const SORT_KEYS: readonly SortKey[] = ['status', 'name', 'commit', 'ahead', 'behind'];

/** A sort: key and direction. */
export interface Sort {
  key: SortKey;
  desc: boolean;
}

/** Everything the URL says about the list. */
export interface ViewState {
  /** null: not chosen; the page picks by the number of repositories. */
  view: View | null;
  sort: Sort;
  status: string | null;
  flag: Attention | null;
  q: string;
}

export const DEFAULT_SORT: Sort = { key: 'status', desc: false };

/**
 * The direction a first click on a column sorts in: statuses from the most urgent, names A to Z,
 * last commits from the oldest (the stale ones first), ahead and behind from the largest.
 */
export function firstDirection(key: SortKey): boolean {
  return key === 'ahead' || key === 'behind';
}

function readSort(text: string | null): Sort {
  if (!text) return DEFAULT_SORT;
  const desc = text.startsWith('-');
  const key = desc ? text.slice(1) : text;
  return (SORT_KEYS as readonly string[]).includes(key) ? { key: key as SortKey, desc } : DEFAULT_SORT;
}

/** Reads the view state from a query string. Unknown values fall back to the defaults. */
export function readViewState(search: URLSearchParams): ViewState {
  const view = search.get('view');
  const flag = search.get('flag');
  const status = search.get('status');
  return {
    view: view === 'cards' || view === 'table' ? view : null,
    sort: readSort(search.get('sort')),
    status: status === null || status === '' ? null : status,
    flag: isAttention(flag) ? flag : null,
    q: search.get('q') ?? '',
  };
}

/** The query string (with `?`, or empty) for `search` changed by `patch`; defaults are removed. */
export function writeViewState(search: URLSearchParams, patch: Partial<ViewState>): string {
  const next = new URLSearchParams(search);
  const set = (name: string, value: string | null) => (value === null || value === '' ? next.delete(name) : next.set(name, value));
  if ('view' in patch) set('view', patch.view ?? null);
  if ('sort' in patch) {
    const sort = patch.sort ?? DEFAULT_SORT;
    set('sort', sort.key === DEFAULT_SORT.key && sort.desc === DEFAULT_SORT.desc ? null : `${sort.desc ? '-' : ''}${sort.key}`);
  }
  if ('status' in patch) set('status', patch.status ?? null);
  if ('flag' in patch) set('flag', patch.flag ?? null);
  if ('q' in patch) set('q', patch.q ?? null);
  const text = next.toString();
  return text ? `?${text}` : '';
}
