import { describe, expect, it } from 'vitest';
import { formatCursor, orderingOf, parseCursor } from './cursor';

const E = '9f2c4a1b77d0e3aa';
const OTHER = '0000000000000001';

describe('parseCursor', () => {
  it('reads epoch:seq, also quoted as an ETag', () => {
    expect(parseCursor(`${E}:42`)).toEqual({ epoch: E, seq: 42 });
    expect(parseCursor(`"${E}:42"`)).toEqual({ epoch: E, seq: 42 });
    expect(parseCursor(`W/"${E}:0"`)).toEqual({ epoch: E, seq: 0 });
    expect(formatCursor({ epoch: E, seq: 42 })).toBe(`${E}:42`);
  });

  it('refuses malformed cursors', () => {
    for (const text of ['', ':', 'abc:1', `${E}:`, `${E}:-1`, E, `${E.toUpperCase()}:1`, `${E}:1x`, null, undefined]) {
      expect(parseCursor(text)).toBeNull();
    }
  });
});

describe('orderingOf (client rule 2)', () => {
  const at = (seq: number, epoch = E) => ({ epoch, seq });
  it('applies the next message', () => expect(orderingOf(at(4), at(5), at(4))).toBe('apply'));
  it('ignores what was already applied', () => {
    expect(orderingOf(at(4), at(4), at(3))).toBe('already-applied');
    expect(orderingOf(at(4), at(2), at(1))).toBe('already-applied');
  });
  it('reports a gap', () => expect(orderingOf(at(4), at(6), at(5))).toBe('gap'));
  it('reports another epoch as a gap', () => expect(orderingOf(at(4), at(5, OTHER), at(4, OTHER))).toBe('gap'));
  it('applies a catch-up from the client cursor and not from another one', () => {
    expect(orderingOf(at(4), at(9), at(4))).toBe('apply');
    expect(orderingOf(at(4), at(9), at(3))).toBe('gap');
  });
  it('has no base without a cursor', () => expect(orderingOf(null, at(1), at(0))).toBe('gap'));
});
