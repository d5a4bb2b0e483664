// Reports shaped like the auditor's (crates/audit, classify.rs) for browser tests, screenshots and
// the bench: every repository that has a clone carries branch, upstream, ahead/behind, unpushed
// commits, stash count, last commit time and age, change counts and missing files, in
// combinations a real auditor produces (missing: no clone fields; mismatched: remote and
// expected URLs differ; extra: no expected URL). Deterministic for a given size.

const DAY_S = 86_400;

/** A small deterministic generator (mulberry32). */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATUSES = ['clean', 'clean', 'clean', 'clean', 'dirty', 'missing', 'extra', 'mismatched'];

/** One repository of an auditor-shaped report; `now` in seconds. */
export function auditedRepo(name, status, rand, now, root = '/srv/git') {
  const url = `https://github.com/alice/${name}.git`;
  const base = { name, status, dashboard_link: `/audit/${encodeURIComponent(name)}?action=view` };
  if (status === 'missing')
    return { ...base, clone_url: url, dashboard_link: `/audit/${encodeURIComponent(name)}?action=clone`, mitigation: 'clone_missing' };
  const detached = rand() < 0.03;
  // An extra folder has no remote, so no upstream either.
  const noUpstream = status === 'extra' || (!detached && rand() < 0.06);
  const ahead = noUpstream || detached ? null : rand() < 0.12 ? 1 + Math.floor(rand() * 4) : 0;
  const behind = noUpstream || detached ? null : rand() < 0.1 ? 1 + Math.floor(rand() * 9) : 0;
  const ageDays = Math.floor(rand() * rand() * 400);
  const commitAt = now - ageDays * DAY_S - Math.floor(rand() * DAY_S);
  const dirty = status === 'dirty';
  const repo = {
    ...base,
    local_path: `${root}/${name}`,
    clone_url: status === 'extra' ? undefined : url,
    remote_url: status === 'mismatched' ? `https://github.com/alice/${name}-old.git` : status === 'extra' ? '' : url,
    expected_url: status === 'mismatched' ? url : undefined,
    file_status: rand() < 0.8 ? 'complete' : 'missing_files',
    branch: detached ? null : rand() < 0.8 ? 'main' : 'develop',
    detached,
    upstream: noUpstream || detached ? null : 'origin/main',
    ahead,
    behind,
    unpushed_commits: noUpstream ? Math.floor(rand() * 3) : detached ? 0 : ahead,
    stash_count: rand() < 0.07 ? 1 + Math.floor(rand() * 2) : 0,
    last_commit: new Date(commitAt * 1000).toISOString().replace('.000Z', 'Z'),
    last_commit_age_days: ageDays,
    staged: dirty ? Math.floor(rand() * 3) : 0,
    unstaged: dirty ? 1 + Math.floor(rand() * 5) : 0,
    untracked: dirty ? Math.floor(rand() * 4) : 0,
    conflicted: 0,
  };
  if (repo.file_status === 'missing_files') repo.missing_files = ['.gitignore'];
  if (status === 'extra') repo.mitigation = 'review_or_delete';
  if (status === 'dirty') repo.mitigation = 'commit_or_discard';
  if (status === 'mismatched') repo.mitigation = 'fix_remote_or_rename';
  if (status === 'extra') repo.dashboard_link = `/audit/${encodeURIComponent(name)}?action=review`;
  return Object.fromEntries(Object.entries(repo).filter(([, v]) => v !== undefined));
}

/** A report of `n` repositories named `repo-00000`…, as the auditor writes it. */
export function auditedReport(n, seed = 7) {
  const rand = random(seed);
  const now = Math.floor(Date.now() / 1000);
  const repos = Array.from({ length: n }, (_, i) =>
    auditedRepo(`repo-${String(i).padStart(5, '0')}`, STATUSES[i % STATUSES.length], rand, now),
  );
  const count = (s) => repos.filter((r) => r.status === s).length;
  return {
    timestamp: new Date(now * 1000).toISOString().replace('.000Z', 'Z'),
    health_status: count('missing') ? 'red' : count('dirty') + count('extra') + count('mismatched') ? 'yellow' : 'green',
    local_git_root: '/srv/git',
    local_scan_active: true,
    summary: {
      total: n,
      missing: count('missing'),
      extra: count('extra'),
      dirty: count('dirty'),
      mismatched: count('mismatched'),
      clean: count('clean'),
    },
    repos,
    mitigation_actions: {
      clone_missing: 'Clone missing repositories from GitHub',
      review_or_delete: 'Review extra local folders: push them somewhere or delete them',
      commit_or_discard: 'Commit or discard uncommitted changes',
      fix_remote_or_rename: 'Fix the origin URL or rename the local folder',
    },
  };
}
