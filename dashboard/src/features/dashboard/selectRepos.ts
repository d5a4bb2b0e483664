// Which repositories the list shows, in which order: the search, the status and attention filters,
// and the sort, as pure functions over the keyed list (the same for cards and table).
import { derived } from '../../lib/repoFacts';
import type { KeyedRepo } from '../../lib/report';
import type { Sort, ViewState } from '../../lib/viewState';

const SEVERITY: Record<string, number> = { missing: 0, dirty: 1, mismatched: 2, extra: 3, clean: 5 };
/** Statuses from the most urgent; unknown statuses between extra and clean. */
export const severity = (status: string) => SEVERITY[status] ?? 4;

/** Names compared case-insensitively (then exactly, then by occurrence): cheap enough for 10,000 per update. */
function byName(a: KeyedRepo, b: KeyedRepo): number {
  const x = derived(a.repo).nameKey;
  const y = derived(b.repo).nameKey;
  if (x !== y) return x < y ? -1 : 1;
  if (a.repo.name !== b.repo.name) return a.repo.name < b.repo.name ? -1 : 1;
  return a.dup - b.dup;
}

/** Compares two numbers that may be unknown; unknown ones go last whatever the direction. */
function nullable(a: number | null, b: number | null, desc: boolean): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  return desc ? b - a : a - b;
}

/** The comparator for a sort; ties fall back to severity, then name. */
export function comparator(sort: Sort): (a: KeyedRepo, b: KeyedRepo) => number {
  const sign = sort.desc ? -1 : 1;
  const tie = (a: KeyedRepo, b: KeyedRepo) => severity(a.repo.status) - severity(b.repo.status) || byName(a, b);
  switch (sort.key) {
    case 'status':
      return (a, b) => sign * (severity(a.repo.status) - severity(b.repo.status)) || byName(a, b);
    case 'name':
      return (a, b) => sign * byName(a, b);
    case 'commit':
      return (a, b) => nullable(derived(a.repo).commitAt, derived(b.repo).commitAt, sort.desc) || tie(a, b);
    case 'ahead':
      return (a, b) => nullable(derived(a.repo).ahead, derived(b.repo).ahead, sort.desc) || tie(a, b);
    case 'behind':
      return (a, b) => nullable(derived(a.repo).behind, derived(b.repo).behind, sort.desc) || tie(a, b);
  }
}

/**
 * The repositories matching the view's filters, sorted. Repositories named `keep` are shown
 * whatever the filters (the one a `/audit/:repo` link points at).
 */
export function selectRepos(
  keyed: readonly KeyedRepo[],
  state: Pick<ViewState, 'q' | 'status' | 'flag' | 'sort'>,
  keep: string | null = null,
): KeyedRepo[] {
  const needle = state.q.trim().toLowerCase();
  const { status, flag } = state;
  const shown = keyed.filter(
    (k) =>
      k.repo.name === keep ||
      ((status === null || k.repo.status === status) &&
        (flag === null || derived(k.repo).attention.includes(flag)) &&
        (needle === '' || derived(k.repo).nameKey.includes(needle))),
  );
  return shown.sort(comparator(state.sort));
}

/** The card that holds focus, and where it was when it took focus. */
export interface Pinned {
  key: string;
  index: number;
}

/**
 * `visible` with the pinned card at its pinned place (and kept even when the filters would now
 * hide it); `visible` itself when nothing is pinned or the repository is gone.
 */
export function pinCard(visible: readonly KeyedRepo[], keyed: readonly KeyedRepo[], pinned: Pinned | null): readonly KeyedRepo[] {
  if (!pinned) return visible;
  const at = visible.findIndex((k) => k.key === pinned.key);
  if (at === pinned.index) return visible;
  const item = at >= 0 ? visible[at] : keyed.find((k) => k.key === pinned.key);
  if (!item) return visible;
  const rest = visible.filter((k) => k.key !== pinned.key);
  const index = Math.min(pinned.index, rest.length);
  return [...rest.slice(0, index), item, ...rest.slice(index)];
}
