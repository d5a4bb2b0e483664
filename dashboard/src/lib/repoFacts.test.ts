import { describe, expect, it } from 'vitest';
import { attentionBadges, countAttention, detailFacts, derived, formatDaysAgo, hasGitFacts, keyFacts, lastCommitText } from './repoFacts';
import type { Repo } from '../types/protocol';

const NOW = Date.parse('2026-12-04T12:00:00Z');
const DAY = 86_400_000;

/** A clean clone as the auditor writes it, in sync with its upstream. */
function audited(patch: Partial<Repo> = {}): Repo {
  return {
    name: 'kitshn',
    status: 'clean',
    local_path: '/srv/git/kitshn',
    clone_url: 'https://github.com/alice/kitshn.git',
    remote_url: 'https://github.com/alice/kitshn.git',
    file_status: 'complete',
    dashboard_link: '/audit/kitshn?action=view',
    branch: 'main',
    detached: false,
    upstream: 'origin/main',
    ahead: 0,
    behind: 0,
    unpushed_commits: 0,
    stash_count: 0,
    last_commit: '2026-12-01T10:00:00Z',
    last_commit_age_days: 3,
    staged: 0,
    unstaged: 0,
    untracked: 0,
    conflicted: 0,
    ...patch,
  };
}

const texts = (repo: Repo) => attentionBadges(repo).map((b) => b.text);
const fact = (repo: Repo, key: string) => keyFacts(repo, NOW).find((f) => f.key === key)?.value;

describe('attention badges', () => {
  it('a clean clone in sync with its upstream earns none', () => {
    expect(attentionBadges(audited())).toEqual([]);
  });

  it('a clean clone with an unpushed commit says so, though its status stays clean', () => {
    const repo = audited({ ahead: 1, unpushed_commits: 1 });
    expect(repo.status).toBe('clean');
    expect(texts(repo)).toEqual(['1 unpushed']);
    expect(attentionBadges(repo)[0]!.title).toMatch(/1 commit not on the remote/);
  });

  it('counts unpushed commits without an upstream, and says there is none', () => {
    expect(texts(audited({ upstream: null, ahead: null, behind: null, unpushed_commits: 2 }))).toEqual(['2 unpushed', 'No upstream']);
  });

  it('falls back to ahead when a producer writes no unpushed count', () => {
    const { unpushed_commits: _unused, ...repo } = audited({ ahead: 3 });
    expect(texts(repo)).toEqual(['3 unpushed']);
  });

  it('behind, stash (singular and plural) and a detached HEAD', () => {
    expect(texts(audited({ behind: 4 }))).toEqual(['4 behind']);
    expect(texts(audited({ stash_count: 1 }))).toEqual(['1 stash']);
    expect(texts(audited({ stash_count: 3 }))).toEqual(['3 stashes']);
    // A detached HEAD has no upstream by nature: only the detached badge.
    expect(texts(audited({ detached: true, branch: null, upstream: null, ahead: null, behind: null }))).toEqual(['Detached HEAD']);
  });

  it('an absent upstream field says nothing (old producers); only an explicit null is "no upstream"', () => {
    expect(texts({ name: 'old', status: 'clean', branch: 'main' })).toEqual([]);
    expect(texts({ name: 'bare', status: 'extra', upstream: null, bare: true })).toEqual([]);
  });

  it('counts each kind over the list, and knows when a producer writes no git facts', () => {
    const repos = [
      audited({ ahead: 1, unpushed_commits: 1 }),
      audited({ behind: 2, stash_count: 1 }),
      audited({ upstream: null, ahead: null, behind: null }),
    ];
    expect(countAttention(repos)).toEqual({ unpushed: 1, behind: 1, detached: 0, 'no-upstream': 1, stash: 1 });
    expect(hasGitFacts(repos)).toBe(true);
    expect(hasGitFacts([{ name: 'a', status: 'clean', branch: 'main' }])).toBe(false);
  });
});

describe('key facts in words', () => {
  it('says the last commit as an age, ahead/behind, and the files that are missing', () => {
    const repo = audited({ ahead: 2, behind: 0, unpushed_commits: 2, missing_files: ['.gitignore'], file_status: 'missing_files' });
    expect(fact(repo, 'last_commit')).toBe('3 days ago');
    expect(fact(repo, 'sync')).toBe('2 ahead · 0 behind');
    expect(fact(repo, 'files')).toBe('no .gitignore');
    expect(fact(repo, 'branch')).toBe('main → origin/main');
    expect(fact(repo, 'path')).toBe('/srv/git/kitshn');
  });

  it('keeps quiet facts short: in sync, files complete (in details), no uncommitted work', () => {
    const facts = keyFacts(audited(), NOW);
    expect(facts.map((f) => f.label)).toEqual(['Path', 'Branch', 'Remote sync', 'Last commit']);
    expect(fact(audited(), 'sync')).toBe('up to date (0 ahead · 0 behind)');
    expect(detailFacts(audited()).find((f) => f.key === 'file_status')?.value).toBe('all present');
  });

  it('a dirty clone lists its uncommitted work', () => {
    expect(fact(audited({ status: 'dirty', staged: 2, unstaged: 1, untracked: 4 }), 'changes')).toBe('2 staged · 1 unstaged · 4 untracked');
  });

  it('a mismatched clone shows the remote it has and the one expected', () => {
    const repo = audited({
      status: 'mismatched',
      remote_url: 'https://github.com/alice/old.git',
      expected_url: 'https://github.com/alice/kitshn.git',
    });
    const facts = keyFacts(repo, NOW);
    expect(facts.find((f) => f.key === 'remote_url')).toMatchObject({
      label: 'Remote',
      value: 'https://github.com/alice/old.git',
      tone: 'warn',
    });
    expect(facts.find((f) => f.key === 'expected_url')).toMatchObject({ label: 'Expected', href: 'https://github.com/alice/kitshn.git' });
  });

  it('a missing repository shows where to clone it from, and nothing about a clone', () => {
    const repo: Repo = { name: 'halo', status: 'missing', clone_url: 'https://github.com/alice/halo.git', mitigation: 'clone_missing' };
    expect(keyFacts(repo, NOW).map((f) => [f.label, f.value])).toEqual([['Clone from', 'https://github.com/alice/halo.git']]);
    expect(detailFacts(repo)).toEqual([]);
  });

  it('an unreadable clone shows its error first', () => {
    expect(keyFacts(audited({ status: 'dirty', error: 'cannot read HEAD' }), NOW)[0]).toMatchObject({
      label: 'Error',
      value: 'cannot read HEAD',
      tone: 'error',
    });
  });

  it('reads the old producers: lastCommitAgeDays, missingFiles, uncommittedChanges, path', () => {
    const old: Repo = {
      name: 'legacy',
      status: 'dirty',
      path: '/srv/git/legacy',
      lastCommitAgeDays: 40,
      missingFiles: ['README'],
      uncommittedChanges: 5,
    };
    expect(fact(old, 'last_commit')).toBe('5 weeks ago');
    expect(fact(old, 'files')).toBe('no README');
    expect(fact(old, 'changes')).toBe('5 uncommitted files');
    expect(fact(old, 'path')).toBe('/srv/git/legacy');
  });

  it('dates a commit from a time when no age is given', () => {
    expect(lastCommitText({ name: 'x', status: 'clean', last_commit_date: new Date(NOW - 10 * DAY).toISOString() }, NOW)).toBe(
      '10 days ago',
    );
    expect(lastCommitText({ name: 'x', status: 'clean', last_commit: 'f9c22252a924814de9d30d22ea49e1484add107f' }, NOW)).toBeNull();
  });

  it('ages read as people say them', () => {
    expect([0, 1, 5, 20, 90, 800].map((d) => formatDaysAgo(d * DAY))).toEqual([
      'today',
      'yesterday',
      '5 days ago',
      '2 weeks ago',
      '3 months ago',
      '2 years ago',
    ]);
  });
});

describe('details', () => {
  it('lists every other field with a human label and a readable value, none of the key facts again', () => {
    const repo = audited({
      last_commit_message: 'Fix backups',
      size_kb: 2048,
      bare: false,
      topics: ['home', 'iot'],
      custom_thing: { a: 1 },
    });
    const details = detailFacts(repo);
    const byKey = Object.fromEntries(details.map((f) => [f.key, [f.label, f.value]]));
    expect(byKey.clone_url).toEqual(['Clone URL', 'https://github.com/alice/kitshn.git']);
    expect(byKey.last_commit_message).toEqual(['Commit message', 'Fix backups']);
    expect(byKey.size_kb).toEqual(['Size', '2.0 MB']);
    expect(byKey.bare).toEqual(['Bare repository', 'no']);
    expect(byKey.topics).toEqual(['Topics', 'home, iot']);
    expect(byKey.custom_thing).toEqual(['Custom thing', '{"a":1}']);
    expect(byKey.last_commit?.[1]).not.toContain('T10:00:00Z');
    for (const key of [
      'name',
      'status',
      'local_path',
      'branch',
      'ahead',
      'behind',
      'upstream',
      'unpushed_commits',
      'stash_count',
      'last_commit_age_days',
    ]) {
      expect(byKey[key], key).toBeUndefined();
    }
  });

  it('caches what sorting needs per repository object', () => {
    const repo = audited({ ahead: 2, unpushed_commits: 2, behind: 1, name: 'Zeta' });
    expect(derived(repo)).toBe(derived(repo));
    expect(derived(repo)).toMatchObject({ ahead: 2, behind: 1, nameKey: 'zeta', attention: ['unpushed', 'behind'] });
  });
});
