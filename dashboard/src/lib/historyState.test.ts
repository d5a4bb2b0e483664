import { describe, expect, it } from 'vitest';
import { compareHref, pastHref, readHistoryParams, writeHistoryParams } from './historyState';

const E = '00000000000000ab';

describe('history in the URL', () => {
  it('reads cursors and ignores what is not one', () => {
    const params = readHistoryParams(new URLSearchParams(`at=${E}:3&from=${E}:1&to=nope&status=dirty`));
    expect(params).toEqual({ at: `${E}:3`, from: `${E}:1`, to: null, status: 'dirty' });
    expect(readHistoryParams(new URLSearchParams(''))).toEqual({ at: null, from: null, to: null, status: null });
  });

  it('writes a patch and keeps the other parameters', () => {
    expect(writeHistoryParams(new URLSearchParams('view=table'), { at: `${E}:3` })).toBe(`?view=table&at=${E}%3A3`);
    expect(writeHistoryParams(new URLSearchParams(`view=table&at=${E}:3`), { at: null })).toBe('?view=table');
    expect(writeHistoryParams(new URLSearchParams(`at=${E}:3`), { at: null })).toBe('');
  });

  it('links a past point and a comparison, round trip', () => {
    expect(pastHref(`${E}:3`)).toBe(`/?at=${E}:3`);
    expect(pastHref(`${E}:3`, 'alice/halo')).toBe(`/audit/alice%2Fhalo?at=${E}:3`);
    const href = compareHref(`${E}:1`, `${E}:9`, 'clean');
    const params = readHistoryParams(new URL(href, 'http://local').searchParams);
    expect(params).toEqual({ at: null, from: `${E}:1`, to: `${E}:9`, status: 'clean' });
  });
});
