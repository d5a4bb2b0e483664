// What a repository's extra fields mean to a reader: the git states that need attention besides
// the five statuses (unpushed work, behind, detached HEAD, stash, no upstream), the few facts worth
// a line on a card, in words ("last commit 3 days ago", "2 ahead · 0 behind", "no .gitignore"),
// and every other field with a human label for the "details" disclosure.
//
// The auditor (crates/audit, classify.rs) writes `branch`, `detached`, `upstream` (null: none),
// `ahead`, `behind`, `unpushed_commits`, `stash_count`, `last_commit` (a time), `last_commit_age_days`,
// `staged`, `unstaged`, `untracked`, `conflicted`, `missing_files`, `bare` and `error`. Other
// producers wrote `last_commit` (a hash) with `last_commit_date`, `uncommitted_files`, and the old
// camelCase fields (`lastCommit`, `lastCommitAgeDays`, `uncommittedChanges`, `missingFiles`, `path`,
// `remote`). Every field is optional; nothing here is a sixth status.
import type { Repo } from '../types/protocol';
import { formatDateTime, parseTimestamp } from './time';

/** A git state that needs attention, shown as a badge beside the status. */
export type Attention = 'unpushed' | 'behind' | 'detached' | 'no-upstream' | 'stash';

/** Every attention kind, in the order they are shown. */
export const ATTENTION_KINDS: readonly Attention[] = ['unpushed', 'behind', 'detached', 'no-upstream', 'stash'];

/** The name of each attention kind, as a filter or a header count says it. */
export const ATTENTION_LABELS: Record<Attention, string> = {
  unpushed: 'Unpushed',
  behind: 'Behind',
  detached: 'Detached HEAD',
  'no-upstream': 'No upstream',
  stash: 'Stash',
};

/** Whether `text` names an attention kind. */
export function isAttention(text: string | null | undefined): text is Attention {
  return (ATTENTION_KINDS as readonly string[]).includes(text ?? '');
}

/** One badge: what it says on the card and what it means. */
export interface AttentionBadge {
  kind: Attention;
  text: string;
  title: string;
}

const DAY_MS = 86_400_000;

/** A count the producer wrote, or null when it wrote none (or not a number). */
function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function field(repo: Repo, ...keys: string[]): unknown {
  for (const key of keys) if (repo[key] !== undefined) return repo[key];
  return undefined;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The badges a repository earns. */
export function attentionBadges(repo: Repo): AttentionBadge[] {
  const badges: AttentionBadge[] = [];
  const unpushed = count(repo.unpushed_commits) ?? count(repo.ahead);
  if (unpushed !== null && unpushed > 0) {
    badges.push({
      kind: 'unpushed',
      text: `${unpushed} unpushed`,
      title: `${plural(unpushed, 'commit')} not on the remote: push, or the remote is not the truth`,
    });
  }
  const behind = count(repo.behind);
  if (behind !== null && behind > 0) {
    badges.push({ kind: 'behind', text: `${behind} behind`, title: `${plural(behind, 'commit')} on the remote not pulled yet` });
  }
  const detached = repo.detached === true;
  if (detached) badges.push({ kind: 'detached', text: 'Detached HEAD', title: 'HEAD is not on a branch: new commits belong to no branch' });
  // `upstream: null` is the auditor saying "no upstream"; an absent field says nothing. A detached
  // HEAD or a bare repository has no upstream by nature, so that is not news.
  if ('upstream' in repo && repo.upstream === null && !detached && repo.bare !== true) {
    badges.push({ kind: 'no-upstream', text: 'No upstream', title: 'The branch tracks no remote branch: nothing says where to push' });
  }
  const stash = count(repo.stash_count);
  if (stash !== null && stash > 0) {
    badges.push({
      kind: 'stash',
      text: plural(stash, 'stash', 'stashes'),
      title: `${plural(stash, 'stash entry', 'stash entries')}: work kept aside, only on this machine`,
    });
  }
  return badges;
}

/** The attention kinds of a repository (the badges' kinds). */
export function attentionKinds(repo: Repo): Attention[] {
  return attentionBadges(repo).map((b) => b.kind);
}

/** How many repositories need each kind of attention. */
export function countAttention(repos: readonly Repo[]): Record<Attention, number> {
  const counts = Object.fromEntries(ATTENTION_KINDS.map((k) => [k, 0])) as Record<Attention, number>;
  for (const repo of repos) for (const kind of derived(repo).attention) counts[kind] += 1;
  return counts;
}

/** Whether any repository carries the git fields the badges are made from (old producers write none). */
export function hasGitFacts(repos: readonly Repo[]): boolean {
  return repos.some((r) => 'upstream' in r || 'unpushed_commits' in r || 'ahead' in r || 'stash_count' in r || 'detached' in r);
}

/** When the last commit was made (ms since the epoch), from a time or an age in days; null when unknown. */
export function lastCommitTime(repo: Repo, now: number): number | null {
  for (const key of ['last_commit_date', 'last_commit', 'lastCommit']) {
    const value = repo[key];
    if (typeof value === 'string') {
      const date = parseTimestamp(value);
      if (date) return date.getTime();
    }
  }
  const days = count(field(repo, 'last_commit_age_days', 'lastCommitAgeDays'));
  return days === null ? null : now - days * DAY_MS;
}

/** "today", "yesterday", "3 days ago", "5 weeks ago", "2 years ago". */
export function formatDaysAgo(ms: number): string {
  const days = Math.floor(Math.max(0, ms) / DAY_MS);
  if (days === 0) return 'today';
  if (days === 1) return 'yesterday';
  if (days < 14) return `${days} days ago`;
  if (days < 60) return `${Math.floor(days / 7)} weeks ago`;
  if (days < 730) return `${Math.floor(days / 30)} months ago`;
  return `${Math.floor(days / 365)} years ago`;
}

/** The last commit in words ("3 days ago"), or null when unknown. */
export function lastCommitText(repo: Repo, now: number): string | null {
  // An age in days is exact as the producer wrote it; a time is dated against the reader's clock.
  const days = count(field(repo, 'last_commit_age_days', 'lastCommitAgeDays'));
  if (days !== null) return formatDaysAgo(days * DAY_MS);
  const at = lastCommitTime(repo, now);
  return at === null ? null : formatDaysAgo(now - at);
}

/** "2 ahead · 0 behind", or null when the producer did not compare with an upstream. */
export function aheadBehindText(repo: Repo): string | null {
  const ahead = count(repo.ahead);
  const behind = count(repo.behind);
  if (ahead === null && behind === null) return null;
  if (!ahead && !behind) return 'up to date (0 ahead · 0 behind)';
  return `${ahead ?? 0} ahead · ${behind ?? 0} behind`;
}

/** The files a producer says are missing ("no README, no .gitignore"), or null. */
export function filesText(repo: Repo): string | null {
  const list = field(repo, 'missing_files', 'missingFiles');
  if (Array.isArray(list) && list.length > 0) return list.map((f) => `no ${String(f)}`).join(', ');
  switch (repo.file_status) {
    case undefined:
      return null;
    case 'complete':
      return 'all present';
    case 'missing_readme':
      return 'no README';
    case 'missing_files':
      return 'some missing';
    case 'unknown':
      return 'not checked';
    default:
      return String(repo.file_status);
  }
}

/** Whether the producer says required files are missing. */
function filesMissing(repo: Repo): boolean {
  const list = field(repo, 'missing_files', 'missingFiles');
  return (Array.isArray(list) && list.length > 0) || repo.file_status === 'missing_files' || repo.file_status === 'missing_readme';
}

/** Uncommitted work in words ("2 staged · 1 unstaged · 4 untracked"), or null when there is none. */
export function changesText(repo: Repo): string | null {
  const parts: string[] = [];
  for (const key of ['conflicted', 'staged', 'unstaged', 'untracked']) {
    const n = count(repo[key]);
    if (n !== null && n > 0) parts.push(`${n} ${key}`);
  }
  if (parts.length) return parts.join(' · ');
  const files = count(field(repo, 'uncommitted_files', 'uncommittedChanges'));
  if (files !== null && files > 0) return plural(files, 'uncommitted file');
  if (repo.uncommittedChanges === true) return 'uncommitted changes';
  return null;
}

/** One line of a card: a label, a value, and how to show it. */
export interface Fact {
  key: string;
  label: string;
  value: string;
  /** Shown in monospace (paths, URLs, branch names). */
  code?: boolean;
  /** A URL to link to. */
  href?: string;
  tone?: 'warn' | 'error';
}

const isUrl = (text: string) => /^https?:\/\//i.test(text);

/** The fields the card's key facts (or its header and mitigation line) stand for. */
const SHOWN = new Set([
  'name',
  'status',
  'mitigation',
  'dashboard_link',
  'local_path',
  'path',
  'branch',
  'detached',
  'upstream',
  'ahead',
  'behind',
  'unpushed_commits',
  'stash_count',
  'last_commit_age_days',
  'lastCommitAgeDays',
  'staged',
  'unstaged',
  'untracked',
  'conflicted',
  'uncommitted_files',
  'uncommittedChanges',
  'missing_files',
  'missingFiles',
  'error',
]);

/** The few facts that matter, in the order a reader looks for them. */
export function keyFacts(repo: Repo, now: number): Fact[] {
  const facts: Fact[] = [];
  if (typeof repo.error === 'string' && repo.error) facts.push({ key: 'error', label: 'Error', value: repo.error, tone: 'error' });
  const path = field(repo, 'local_path', 'path');
  if (typeof path === 'string') facts.push({ key: 'path', label: 'Path', value: path, code: true });

  if (repo.status === 'missing' && repo.clone_url) {
    facts.push({
      key: 'clone_url',
      label: 'Clone from',
      value: repo.clone_url,
      code: true,
      href: isUrl(repo.clone_url) ? repo.clone_url : undefined,
    });
  }
  if (repo.status === 'mismatched' || repo.expected_url !== undefined) {
    if (repo.remote_url !== undefined) {
      facts.push({
        key: 'remote_url',
        label: 'Remote',
        value: repo.remote_url || 'none',
        code: repo.remote_url !== '',
        tone: 'warn',
        href: isUrl(repo.remote_url) ? repo.remote_url : undefined,
      });
    }
    if (repo.expected_url !== undefined) {
      facts.push({
        key: 'expected_url',
        label: 'Expected',
        value: repo.expected_url,
        code: true,
        href: isUrl(repo.expected_url) ? repo.expected_url : undefined,
      });
    }
  } else if (repo.remote_url === '') {
    facts.push({ key: 'remote_url', label: 'Remote', value: 'none' });
  }

  const branch = typeof repo.branch === 'string' ? repo.branch : null;
  if (repo.detached === true) {
    facts.push({ key: 'branch', label: 'Branch', value: branch ? `detached HEAD (${branch})` : 'detached HEAD', tone: 'warn' });
  } else if (branch) {
    const upstream = typeof repo.upstream === 'string' ? ` → ${repo.upstream}` : '';
    facts.push({ key: 'branch', label: 'Branch', value: `${branch}${upstream}`, code: true });
  }
  const sync = aheadBehindText(repo);
  if (sync) {
    const behind = count(repo.behind) ?? 0;
    const ahead = count(repo.ahead) ?? 0;
    facts.push({ key: 'sync', label: 'Remote sync', value: sync, tone: ahead + behind > 0 ? 'warn' : undefined });
  } else if ('upstream' in repo && repo.upstream === null && repo.detached !== true) {
    const unpushed = count(repo.unpushed_commits);
    facts.push({
      key: 'sync',
      label: 'Remote sync',
      value: unpushed ? `no upstream · ${plural(unpushed, 'commit')} on no remote` : 'no upstream',
      tone: 'warn',
    });
  }
  const changes = changesText(repo);
  if (changes) facts.push({ key: 'changes', label: 'Uncommitted', value: changes, tone: 'warn' });
  const stash = count(repo.stash_count);
  if (stash) facts.push({ key: 'stash', label: 'Stash', value: plural(stash, 'entry', 'entries'), tone: 'warn' });
  const commit = lastCommitText(repo, now);
  if (commit) facts.push({ key: 'last_commit', label: 'Last commit', value: commit });
  const files = filesText(repo);
  if (files && filesMissing(repo)) facts.push({ key: 'files', label: 'Files', value: files, tone: 'warn' });
  return facts;
}

/** Human names for fields the details list shows. */
const LABELS: Record<string, string> = {
  clone_url: 'Clone URL',
  remote_url: 'Remote',
  expected_url: 'Expected remote',
  remote: 'Remote',
  last_commit: 'Last commit',
  lastCommit: 'Last commit',
  last_commit_date: 'Last commit date',
  last_commit_message: 'Commit message',
  last_commit_author: 'Commit author',
  bare: 'Bare repository',
  size_kb: 'Size',
  isStale: 'Stale',
  local_scan: 'Local scan',
};

function humanKey(key: string): string {
  if (LABELS[key]) return LABELS[key];
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase();
  return words ? words[0]!.toUpperCase() + words.slice(1) : key;
}

function formatValue(key: string, value: unknown): string {
  if (value === null) return 'none';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number' && key === 'size_kb') {
    return value >= 1024 * 1024
      ? `${(value / 1024 / 1024).toFixed(1)} GB`
      : value >= 1024
        ? `${(value / 1024).toFixed(1)} MB`
        : `${value} KB`;
  }
  if (typeof value === 'string') {
    if (value === '') return '(empty)';
    const date = /^\d{4}-\d{2}-\d{2}T/.test(value) ? parseTimestamp(value) : null;
    return date ? formatDateTime(date) : value;
  }
  if (Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null)) return value.length ? value.join(', ') : '(none)';
  return JSON.stringify(value);
}

/** Every other field the producer wrote, labelled and formatted, for the "details" disclosure. */
export function detailFacts(repo: Repo): Fact[] {
  const facts: Fact[] = [];
  for (const [key, value] of Object.entries(repo)) {
    if (SHOWN.has(key) || value === undefined) continue;
    if (key === 'file_status') {
      // Shown among the key facts when files are missing; here when all is well or unchecked.
      if (!filesMissing(repo)) facts.push({ key, label: 'Files', value: filesText(repo) ?? String(value) });
      continue;
    }
    // URLs the key facts showed already.
    if ((key === 'remote_url' || key === 'expected_url') && (repo.status === 'mismatched' || repo.expected_url !== undefined)) continue;
    if (key === 'remote_url' && value === '') continue;
    if (key === 'clone_url' && repo.status === 'missing') continue;
    const text = formatValue(key, value);
    const href = typeof value === 'string' && isUrl(value) ? value : undefined;
    const plain = typeof value === 'boolean' || typeof value === 'number' || key === 'last_commit_message' || text !== value;
    facts.push({ key, label: humanKey(key), value: text, code: !plain, href });
  }
  return facts;
}

/** What sorting and filtering need of a repository, computed once per repository object. */
export interface Derived {
  attention: Attention[];
  /** The name in lower case, for sorting. */
  nameKey: string;
  /** Last commit time (ms), null when unknown. */
  commitAt: number | null;
  ahead: number | null;
  behind: number | null;
}

const cache = new WeakMap<Repo, Derived>();

/** The derived facts of a repository; cached by object identity (a changed repository is a new object). */
export function derived(repo: Repo): Derived {
  let value = cache.get(repo);
  if (!value) {
    value = {
      attention: attentionKinds(repo),
      nameKey: String(repo.name).toLowerCase(),
      commitAt: lastCommitTime(repo, Date.now()),
      ahead: count(repo.ahead) ?? count(repo.unpushed_commits),
      behind: count(repo.behind),
    };
    cache.set(repo, value);
  }
  return value;
}
