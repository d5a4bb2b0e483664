import { describe, expect, it } from 'vitest';
import { applyCatchUp, applyMeta, applyRepoChanges, diffReports, isReport, keyedRepos, PatchError, repoKey } from './report';
import type { Report } from '../types/protocol';
import { sampleReport } from '../test/fakes';

describe('applyRepoChanges', () => {
  it('applies RFC 6902 ops relative to the repository and reports the status change', () => {
    const before = sampleReport();
    const { report, statusChanges, touched } = applyRepoChanges(before, [
      {
        name: 'halo',
        change: 'changed',
        old_status: 'missing',
        new_status: 'clean',
        ops: [
          { op: 'replace', path: '/status', value: 'clean' },
          { op: 'add', path: '/local_path', value: '/srv/git/halo' },
        ],
      },
    ]);
    expect(report.repos.find((r) => r.name === 'halo')).toMatchObject({ status: 'clean', local_path: '/srv/git/halo' });
    expect(statusChanges).toEqual([{ key: repoKey('halo'), name: 'halo', dup: 0, from: 'missing', to: 'clean' }]);
    expect(touched).toEqual([repoKey('halo')]);
    // The old state is untouched and unchanged repositories keep their identity.
    expect(before.repos[0]?.status).toBe('missing');
    expect(report.repos[1]).toBe(before.repos[1]);
  });

  it('unescapes ~1 and ~0 in JSON Pointer paths (RFC 6901)', () => {
    const before: Report = { repos: [{ name: 'a/b~c', status: 'clean', 'weird/key~x': { 'x~y': 1 } }] };
    const { report } = applyRepoChanges(before, [
      {
        name: 'a/b~c',
        change: 'changed',
        ops: [
          { op: 'replace', path: '/weird~1key~0x/x~0y', value: 2 },
          { op: 'add', path: '/a~1b', value: 'slash' },
          { op: 'add', path: '/c~0d', value: 'tilde' },
        ],
      },
    ]);
    expect(report.repos[0]).toEqual({ name: 'a/b~c', status: 'clean', 'weird/key~x': { 'x~y': 2 }, 'a/b': 'slash', 'c~d': 'tilde' });
  });

  it('addresses repeated names by dup, the n-th occurrence counting from 0', () => {
    const before: Report = {
      repos: [
        { name: 'twin', status: 'clean', local_path: '/a' },
        { name: 'other', status: 'clean' },
        { name: 'twin', status: 'clean', local_path: '/b' },
      ],
    };
    const { report } = applyRepoChanges(before, [
      { name: 'twin', dup: 1, change: 'changed', ops: [{ op: 'replace', path: '/status', value: 'dirty' }] },
    ]);
    expect(report.repos.map((r) => [r.name, r.status, r.local_path])).toEqual([
      ['twin', 'clean', '/a'],
      ['other', 'clean', undefined],
      ['twin', 'dirty', '/b'],
    ]);
  });

  it('keeps dup order when the first of two twins is removed and the second renumbered', () => {
    // The server's keyed diff of [twin/a, twin/b] -> [twin/b]: dup 0 becomes /b, dup 1 goes.
    const before: Report = {
      repos: [
        { name: 'twin', status: 'clean', local_path: '/a' },
        { name: 'twin', status: 'dirty', local_path: '/b' },
      ],
    };
    const { report, statusChanges } = applyRepoChanges(before, [
      { name: 'twin', dup: 1, change: 'removed', old_status: 'dirty' },
      {
        name: 'twin',
        change: 'changed',
        ops: [
          { op: 'replace', path: '/status', value: 'dirty' },
          { op: 'replace', path: '/local_path', value: '/b' },
        ],
      },
    ]);
    expect(report.repos).toEqual([{ name: 'twin', status: 'dirty', local_path: '/b' }]);
    expect(statusChanges.map((c) => [c.dup, c.from, c.to])).toEqual([
      [1, 'dirty', null],
      [0, 'clean', 'dirty'],
    ]);
  });

  it('adds a second occurrence after the first, so keys stay stable', () => {
    const before: Report = {
      repos: [
        { name: 'twin', status: 'clean' },
        { name: 'x', status: 'clean' },
      ],
    };
    const { report } = applyRepoChanges(before, [
      { name: 'twin', dup: 1, change: 'added', new_status: 'extra', repo: { name: 'twin', status: 'extra' } },
    ]);
    expect(keyedRepos(report.repos).map((k) => [k.repo.name, k.dup, k.repo.status])).toEqual([
      ['twin', 0, 'clean'],
      ['x', 0, 'clean'],
      ['twin', 1, 'extra'],
    ]);
  });

  it('adds and removes whole repositories', () => {
    const { report, statusChanges } = applyRepoChanges(sampleReport(), [
      { name: 'scratch', change: 'added', new_status: 'extra', repo: { name: 'scratch', status: 'extra' } },
      { name: 'kitshn', change: 'removed', old_status: 'clean' },
    ]);
    expect(report.repos.map((r) => r.name)).toEqual(['halo', 'esphome', 'scratch']);
    expect(statusChanges).toEqual([
      { key: repoKey('scratch'), name: 'scratch', dup: 0, from: null, to: 'extra' },
      { key: repoKey('kitshn'), name: 'kitshn', dup: 0, from: 'clean', to: null },
    ]);
  });

  it('refuses changes to repositories the state does not have', () => {
    expect(() => applyRepoChanges(sampleReport(), [{ name: 'ghost', change: 'changed', ops: [] }])).toThrow(PatchError);
    expect(() => applyRepoChanges(sampleReport(), [{ name: 'ghost', change: 'removed' }])).toThrow(PatchError);
    expect(() =>
      applyRepoChanges(sampleReport(), [
        { name: 'halo', dup: 1, change: 'changed', ops: [{ op: 'replace', path: '/status', value: 'x' }] },
      ]),
    ).toThrow(PatchError);
  });

  it('refuses a patch whose path does not resolve', () => {
    expect(() =>
      applyRepoChanges(sampleReport(), [{ name: 'halo', change: 'changed', ops: [{ op: 'replace', path: '/nope/deeper', value: 1 }] }]),
    ).toThrow(PatchError);
  });

  it('does not announce a status that changed and came back within one catch-up', () => {
    const { statusChanges, touched } = applyRepoChanges(sampleReport(), [
      { name: 'kitshn', change: 'changed', ops: [{ op: 'replace', path: '/status', value: 'dirty' }] },
      { name: 'kitshn', change: 'changed', ops: [{ op: 'replace', path: '/status', value: 'clean' }] },
    ]);
    expect(statusChanges).toEqual([]);
    expect(touched).toContain(repoKey('kitshn'));
  });
});

describe('applyMeta', () => {
  it('merges the named top-level fields, removes those set to null and keeps the rest', () => {
    const before = { ...sampleReport(), github_user: 'alice', local_git_root: '/srv/git' };
    const after = applyMeta(before, {
      timestamp: '2025-06-21T03:00:00Z',
      health_status: 'yellow',
      summary: { total: 3 },
      local_git_root: null as unknown as string,
    });
    expect(after.timestamp).toBe('2025-06-21T03:00:00Z');
    expect(after.health_status).toBe('yellow');
    expect(after.summary).toEqual({ total: 3 });
    expect(after.github_user).toBe('alice');
    expect('local_git_root' in after).toBe(false);
    expect(after.repos).toBe(before.repos);
  });
});

describe('applyCatchUp', () => {
  it('applies the merged repository changes and the meta', () => {
    const { report } = applyCatchUp(sampleReport(), {
      since: '9f2c4a1b77d0e3aa:1',
      repos: [{ name: 'esphome', change: 'changed', ops: [{ op: 'replace', path: '/status', value: 'clean' }] }],
      meta: { health_status: 'red', custom_field: 7 },
    });
    expect(report.repos.find((r) => r.name === 'esphome')?.status).toBe('clean');
    expect(report.health_status).toBe('red');
    expect(report.custom_field).toBe(7);
    expect(report.timestamp).toBe('2025-06-20T03:00:00Z'); // not named: unchanged
  });

  it('keeps the meta when the catch-up has none', () => {
    const { report } = applyCatchUp(sampleReport(), { since: '9f2c4a1b77d0e3aa:1', repos: [], meta: null });
    expect(report.timestamp).toBe('2025-06-20T03:00:00Z');
  });
});

describe('diffReports', () => {
  it('finds status changes, additions and removals by key', () => {
    const before = sampleReport();
    const after: Report = {
      ...before,
      repos: [
        { ...(before.repos[0] as Report['repos'][number]), status: 'clean' },
        before.repos[1] as Report['repos'][number],
        { name: 'new', status: 'weird' },
      ],
    };
    const { statusChanges, touched } = diffReports(before, after);
    expect(statusChanges.map((c) => [c.name, c.from, c.to])).toEqual([
      ['halo', 'missing', 'clean'],
      ['new', null, 'weird'],
      ['esphome', 'dirty', null],
    ]);
    expect(touched).toEqual([repoKey('halo'), repoKey('new'), repoKey('esphome')]);
  });
});

describe('isReport', () => {
  it('accepts a report and refuses other values', () => {
    expect(isReport(sampleReport())).toBe(true);
    expect(isReport({ repos: [] })).toBe(true);
    expect(isReport(null)).toBe(false);
    expect(isReport([])).toBe(false);
    expect(isReport({ repos: [{ status: 'clean' }] })).toBe(false);
  });
});
