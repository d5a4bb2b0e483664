import { describe, expect, it } from 'vitest';
import { DEFAULT_SORT, readViewState, writeViewState } from './viewState';

const read = (query: string) => readViewState(new URLSearchParams(query));

describe('view state in the URL', () => {
  it('an empty query is the default view', () => {
    expect(read('')).toEqual({ view: null, sort: DEFAULT_SORT, status: null, flag: null, q: '' });
  });

  it('reads view, sort with direction, status, attention flag and search', () => {
    expect(read('view=table&sort=-commit&status=dirty&flag=unpushed&q=home')).toEqual({
      view: 'table',
      sort: { key: 'commit', desc: true },
      status: 'dirty',
      flag: 'unpushed',
      q: 'home',
    });
  });

  it('unknown values fall back to the defaults; unknown statuses are kept (producers write them)', () => {
    expect(read('view=grid&sort=size&flag=weird&status=archived')).toEqual({
      view: null,
      sort: DEFAULT_SORT,
      status: 'archived',
      flag: null,
      q: '',
    });
  });

  it('writes only what differs from the default, and keeps other parameters', () => {
    const search = new URLSearchParams('action=clone');
    expect(writeViewState(search, { view: 'table', sort: { key: 'name', desc: false }, q: 'halo' })).toBe(
      '?action=clone&view=table&sort=name&q=halo',
    );
    expect(writeViewState(new URLSearchParams('sort=name&q=x'), { sort: DEFAULT_SORT, q: '' })).toBe('');
    expect(writeViewState(new URLSearchParams(''), { sort: { key: 'behind', desc: true } })).toBe('?sort=-behind');
  });

  it('round-trips', () => {
    const state = read('view=cards&sort=-ahead&status=clean&flag=stash&q=a%20b');
    expect(read(writeViewState(new URLSearchParams(), state).slice(1))).toEqual(state);
  });
});
