import { describe, expect, it } from 'vitest';
import { pinCard, selectRepos } from './selectRepos';
import { keyedRepos, type KeyedRepo } from '../../lib/report';
import { DEFAULT_SORT, type Sort, type ViewState } from '../../lib/viewState';
import type { Repo } from '../../types/protocol';

const DAY = 86_400_000;
const repos: Repo[] = [
  { name: 'beta', status: 'clean', ahead: 2, behind: 0, unpushed_commits: 2, upstream: 'origin/main', last_commit_age_days: 3 },
  { name: 'Alpha', status: 'dirty', ahead: 0, behind: 5, unpushed_commits: 0, upstream: 'origin/main', last_commit_age_days: 40 },
  { name: 'gamma', status: 'missing', clone_url: 'https://github.com/alice/gamma.git' },
  {
    name: 'delta',
    status: 'clean',
    ahead: null,
    behind: null,
    unpushed_commits: 1,
    upstream: null,
    last_commit: new Date(Date.now() - 1 * DAY).toISOString(),
  },
  { name: 'archive', status: 'archived' },
];
const keyed = keyedRepos(repos);
const all: Pick<ViewState, 'q' | 'status' | 'flag' | 'sort'> = { q: '', status: null, flag: null, sort: DEFAULT_SORT };
const names = (sort: Sort, extra: Partial<typeof all> = {}) => selectRepos(keyed, { ...all, ...extra, sort }).map((k) => k.repo.name);

describe('selectRepos', () => {
  it('sorts by status (most urgent first), then by name without regard to case', () => {
    expect(names(DEFAULT_SORT)).toEqual(['gamma', 'Alpha', 'archive', 'beta', 'delta']);
    expect(names({ key: 'status', desc: true })).toEqual(['beta', 'delta', 'archive', 'Alpha', 'gamma']);
  });

  it('sorts by name', () => {
    expect(names({ key: 'name', desc: false })).toEqual(['Alpha', 'archive', 'beta', 'delta', 'gamma']);
    expect(names({ key: 'name', desc: true })).toEqual(['gamma', 'delta', 'beta', 'archive', 'Alpha']);
  });

  it('sorts by last commit, oldest first or newest first, unknown last either way', () => {
    expect(names({ key: 'commit', desc: false })).toEqual(['Alpha', 'beta', 'delta', 'gamma', 'archive']);
    expect(names({ key: 'commit', desc: true })).toEqual(['delta', 'beta', 'Alpha', 'gamma', 'archive']);
  });

  it('sorts by ahead and by behind, unknown last', () => {
    expect(names({ key: 'ahead', desc: true })).toEqual(['beta', 'delta', 'Alpha', 'gamma', 'archive']);
    expect(names({ key: 'behind', desc: true })).toEqual(['Alpha', 'beta', 'gamma', 'archive', 'delta']);
  });

  it('filters by status, attention, and search (case-insensitive), together', () => {
    expect(names(DEFAULT_SORT, { status: 'clean' })).toEqual(['beta', 'delta']);
    expect(names(DEFAULT_SORT, { flag: 'unpushed' })).toEqual(['beta', 'delta']);
    expect(names(DEFAULT_SORT, { flag: 'no-upstream' })).toEqual(['delta']);
    expect(names(DEFAULT_SORT, { flag: 'behind', q: 'ALP' })).toEqual(['Alpha']);
    expect(names(DEFAULT_SORT, { status: 'clean', q: 'zzz' })).toEqual([]);
  });

  it('keeps the repository a link points at whatever the filters', () => {
    expect(selectRepos(keyed, { ...all, status: 'clean' }, 'gamma').map((k) => k.repo.name)).toEqual(['gamma', 'beta', 'delta']);
  });
});

describe('pinCard', () => {
  const k = (name: string): KeyedRepo => ({ key: `${name}\u00000`, dup: 0, repo: { name, status: 'clean' } as KeyedRepo['repo'] });
  const names = (list: readonly KeyedRepo[]) => list.map((x) => x.repo.name);
  const all = ['a', 'b', 'c', 'd'].map(k);

  it('keeps the focused card where it was when the order changes', () => {
    const reordered = [all[2]!, all[0]!, all[1]!, all[3]!];
    expect(names(pinCard(reordered, all, { key: all[2]!.key, index: 2 }))).toEqual(['a', 'b', 'c', 'd']);
    expect(pinCard(all, all, null)).toBe(all);
  });

  it('keeps the focused card listed when a filter would now hide it, and lets a removed one go', () => {
    const filtered = [all[0]!, all[3]!];
    expect(names(pinCard(filtered, all, { key: all[1]!.key, index: 1 }))).toEqual(['a', 'b', 'd']);
    expect(names(pinCard(filtered, [all[0]!, all[3]!], { key: all[1]!.key, index: 1 }))).toEqual(['a', 'd']);
  });
});
