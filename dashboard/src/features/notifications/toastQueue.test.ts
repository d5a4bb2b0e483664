import { describe, expect, it } from 'vitest';
import { addChanges, expire, mergeChanges, resume, TOAST_POLICY, toastTitle, type Toast } from './toastQueue';
import { announcementText, gather } from './announcements';
import type { StatusChange } from '../../lib/report';

const change = (name: string, from: string | null, to: string | null): StatusChange => ({ key: `${name}\u00000`, name, dup: 0, from, to });
const policy = { mergeWindowMs: 3_000, max: 3, lifetimeMs: 8_000 };

function run(events: Array<[number, StatusChange[]]>): Toast[] {
  let toasts: Toast[] = [];
  let id = 1;
  for (const [at, changes] of events) toasts = addChanges(expire(toasts, at), changes, at, id++, policy);
  return toasts;
}

describe('toast queue', () => {
  it('a burst of single changes is one toast: "4 repositories changed"', () => {
    const toasts = run([
      [0, [change('a', 'clean', 'dirty')]],
      [400, [change('b', 'clean', 'dirty')]],
      [900, [change('c', 'missing', 'clean')]],
      [1500, [change('d', 'clean', 'missing')]],
    ]);
    expect(toasts).toHaveLength(1);
    expect(toastTitle(toasts[0]!)).toBe('4 repositories changed');
    expect(toasts[0]!.expiresAt).toBe(1500 + policy.lifetimeMs);
  });

  it('changes after a quiet spell start a new toast', () => {
    const toasts = run([
      [0, [change('a', 'clean', 'dirty')]],
      [5_000, [change('b', 'clean', 'dirty')]],
    ]);
    expect(toasts.map((t) => t.changes.map((c) => c.name))).toEqual([['a'], ['b']]);
    expect(toastTitle(toasts[0]!)).toBe('a changed');
  });

  it('a repository that changes twice in a burst is listed once, first status to last', () => {
    expect(mergeChanges([change('a', 'clean', 'dirty')], [change('a', 'dirty', 'missing')])).toEqual([change('a', 'clean', 'missing')]);
  });

  it('a change undone within the burst leaves nothing to say', () => {
    expect(
      run([
        [0, [change('a', 'clean', 'dirty')]],
        [500, [change('a', 'dirty', 'clean')]],
      ]),
    ).toEqual([]);
    expect(
      run([
        [0, [change('n', null, 'extra')]],
        [500, [change('n', 'extra', null)]],
      ]),
    ).toEqual([]);
  });

  it('keeps at most three, dropping the oldest', () => {
    let toasts: Toast[] = [];
    const long = { mergeWindowMs: 1_000, max: 3, lifetimeMs: 60_000 };
    for (const [i, at] of [0, 2_000, 4_000, 6_000].entries())
      toasts = addChanges(toasts, [change(`r${i}`, 'clean', 'dirty')], at, i + 1, long);
    expect(toasts.map((t) => t.changes[0]!.name)).toEqual(['r1', 'r2', 'r3']);
  });

  it('expires each toast its lifetime after its last change', () => {
    const toasts = run([[0, [change('a', 'clean', 'dirty')]]]);
    expect(expire(toasts, TOAST_POLICY.lifetimeMs - 1)).toHaveLength(1);
    expect(expire(toasts, TOAST_POLICY.lifetimeMs)).toHaveLength(0);
  });
});

describe('pausing', () => {
  it('a pause moves every expiry on by its length, and leaves at least the minimum', () => {
    const toasts = run([[0, [change('a', 'clean', 'dirty')]]]);
    expect(toasts[0]!.expiresAt).toBe(8_000);
    expect(resume(toasts, 5_000, 6_000)[0]!.expiresAt).toBe(13_000);
    expect(resume(toasts, 0, 7_500, 2_000)[0]!.expiresAt).toBe(9_500);
  });
});

describe('announcements', () => {
  it('says one change in words, a few with their statuses, many by name', () => {
    expect(announcementText([change('halo', 'missing', 'clean')])).toBe('halo from Missing to Clean.');
    expect(announcementText([change('new', null, 'extra'), change('gone', 'clean', null)])).toBe(
      '2 repositories changed: new appeared, Extra; gone was removed.',
    );
    const many = Array.from({ length: 9 }, (_, i) => change(`r${i}`, 'clean', 'dirty'));
    expect(announcementText(many)).toBe('9 repositories changed: r0, r1, r2, r3, r4 and 4 more.');
    expect(announcementText([])).toBe('');
    expect(announcementText([], ['commit on halo: done'])).toBe('commit on halo: done.');
  });

  it('gathers a burst: a repository that went and came back is not said', () => {
    let pending = gather(null, [change('a', 'clean', 'dirty')]);
    pending = gather(pending, [change('b', 'clean', 'dirty')], 'audit: done');
    pending = gather(pending, [change('a', 'dirty', 'clean')]);
    expect(announcementText(pending.changes, pending.actions)).toBe('audit: done. b from Clean to Dirty.');
  });
});
