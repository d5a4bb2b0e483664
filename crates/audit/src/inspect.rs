//! Reading the facts of one local folder through libgit2: is it a repository, its origin, its
//! changes, branch, upstream distance, stashes and last commit.
//!
//! Why git2 (libgit2, vendored) rather than gix: libgit2's `git_status_list` has given the same
//! answers as `git status` for a decade, untracked files included, and `graph_ahead_behind` is one
//! call; gix's status is younger and ahead/behind needs a hand-written walk. On 2 cores the
//! vendored C build takes well under a minute, less than gix's status feature set, and with
//! default features off it pulls in no OpenSSL or ssh. One open repository per folder and no
//! `git` process per check keeps 1,000 repositories inside the 2 s budget.

use std::path::Path;

use git2::{BranchType, ErrorCode, Repository, RepositoryOpenFlags, StatusOptions};

/// Everything the audit learns about one folder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Local {
    /// The folder could not be read at all.
    Unreadable(String),
    /// A readable folder that is no git repository.
    NotGit,
    /// A `.git` is there but libgit2 could not open it.
    Broken(String),
    /// A repository that opened; `error` says what could not be read inside it.
    Git(Box<GitFacts>),
}

/// Facts of a repository that opened.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct GitFacts {
    pub(crate) bare: bool,
    /// `origin`'s URL, if the repository has an `origin` with a readable URL.
    pub(crate) origin_url: Option<String>,
    pub(crate) changes: Changes,
    /// The branch HEAD points at (also for an unborn branch); `None` when detached.
    pub(crate) branch: Option<String>,
    pub(crate) detached: bool,
    pub(crate) upstream: Option<String>,
    /// `(ahead, behind)` against the upstream.
    pub(crate) ahead_behind: Option<(usize, usize)>,
    /// Commits on HEAD not on any remote-tracking branch, counted up to [`UNPUSHED_LIMIT`].
    pub(crate) unpushed_commits: Option<usize>,
    pub(crate) stash_count: usize,
    /// Seconds since the epoch of HEAD's commit.
    pub(crate) last_commit_seconds: Option<i64>,
    /// The required files (see `AuditConfig::required_files`) the worktree lacks, as configured.
    pub(crate) missing_files: Vec<String>,
    /// What could not be read; the facts above are then partial.
    pub(crate) error: Option<String>,
}

/// Counts of changed paths, as `git status --porcelain` would list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Changes {
    pub(crate) staged: usize,
    pub(crate) unstaged: usize,
    pub(crate) untracked: usize,
    pub(crate) conflicted: usize,
}

impl Changes {
    pub(crate) fn any(&self) -> bool {
        self.staged + self.unstaged + self.untracked + self.conflicted > 0
    }
}

/// Counting unpushed commits on a repository with no remote at all walks its whole history; stop here.
pub(crate) const UNPUSHED_LIMIT: usize = 1000;

/// Reads one folder. Never panics and never fails: what cannot be read becomes part of the answer.
/// `required` names the files whose absence `file_status` reports.
pub(crate) fn inspect(path: &Path, required: &[String]) -> Local {
    if let Err(error) = std::fs::read_dir(path) {
        return Local::Unreadable(format!("cannot read folder: {error}"));
    }
    // NO_SEARCH: a plain folder inside a repository must not be taken for that repository.
    let repo = match Repository::open_ext(
        path,
        RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&str>(),
    ) {
        Ok(repo) => repo,
        Err(error) if error.code() == ErrorCode::NotFound && !path.join(".git").exists() => {
            return Local::NotGit;
        }
        Err(error) => return Local::Broken(open_error_text(&error)),
    };
    Local::Git(Box::new(read_facts(&repo, required)))
}

fn open_error_text(error: &git2::Error) -> String {
    if error.code() == ErrorCode::Owner {
        format!(
            "cannot open repository: it is owned by another user ({}); \
             add it to safe.directory in the global git config of the auditing user",
            error.message()
        )
    } else {
        format!("cannot open repository: {}", error.message())
    }
}

fn read_facts(repo: &Repository, required: &[String]) -> GitFacts {
    let mut facts = GitFacts { bare: repo.is_bare(), ..GitFacts::default() };
    let mut errors = Vec::new();

    match repo.find_remote("origin") {
        Ok(remote) => facts.origin_url = remote.url().ok().map(str::to_owned),
        Err(error) if error.code() == ErrorCode::NotFound => {}
        Err(error) => errors.push(format!("cannot read origin: {}", error.message())),
    }

    if let Some(workdir) = repo.workdir() {
        match read_changes(repo) {
            Ok(changes) => facts.changes = changes,
            Err(error) => errors.push(format!("cannot read status: {}", error.message())),
        }
        facts.missing_files = missing_files(workdir, required);
    }

    if let Err(error) = read_head(repo, &mut facts) {
        errors.push(format!("cannot read HEAD: {}", error.message()));
    }

    // The stash is a reflog on refs/stash; no stash means no reference and an empty log.
    if repo.find_reference("refs/stash").is_ok() {
        match repo.reflog("refs/stash") {
            Ok(reflog) => facts.stash_count = reflog.len(),
            Err(error) => errors.push(format!("cannot read stash: {}", error.message())),
        }
    }

    if !errors.is_empty() {
        facts.error = Some(errors.join("; "));
    }
    facts
}

fn read_changes(repo: &Repository) -> Result<Changes, git2::Error> {
    use git2::Status as S;
    let staged_bits = S::INDEX_NEW
        | S::INDEX_MODIFIED
        | S::INDEX_DELETED
        | S::INDEX_RENAMED
        | S::INDEX_TYPECHANGE;
    let unstaged_bits = S::WT_MODIFIED | S::WT_DELETED | S::WT_RENAMED | S::WT_TYPECHANGE;

    let mut options = StatusOptions::new();
    // Untracked directories count once, as `git status` shows them, without walking inside.
    options
        .include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false)
        .renames_head_to_index(false);
    let statuses = repo.statuses(Some(&mut options))?;
    let mut changes = Changes::default();
    for entry in statuses.iter() {
        let status = entry.status();
        if status.contains(S::CONFLICTED) {
            changes.conflicted += 1;
            continue;
        }
        if status.intersects(staged_bits) {
            changes.staged += 1;
        }
        if status.intersects(unstaged_bits) {
            changes.unstaged += 1;
        }
        if status.contains(S::WT_NEW) {
            changes.untracked += 1;
        }
    }
    Ok(changes)
}

fn read_head(repo: &Repository, facts: &mut GitFacts) -> Result<(), git2::Error> {
    let head = match repo.head() {
        Ok(head) => head,
        Err(error) if error.code() == ErrorCode::UnbornBranch => {
            // A fresh `git init`: HEAD names a branch with no commit yet.
            let head = repo.find_reference("HEAD")?;
            facts.branch = head
                .symbolic_target()?
                .map(|target| target.trim_start_matches("refs/heads/").to_owned());
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    facts.detached = repo.head_detached()?;
    if !facts.detached {
        facts.branch = head.shorthand().ok().map(str::to_owned);
    }
    let commit = head.peel_to_commit()?;
    facts.last_commit_seconds = Some(commit.time().seconds());

    if !facts.detached && head.is_branch() {
        let local = git2::Branch::wrap(head);
        match local.upstream() {
            Ok(upstream) => {
                facts.upstream = upstream.name().ok().flatten().map(str::to_owned);
                if let Some(upstream_oid) = upstream.get().target() {
                    let (ahead, behind) = repo.graph_ahead_behind(commit.id(), upstream_oid)?;
                    facts.ahead_behind = Some((ahead, behind));
                    facts.unpushed_commits = Some(ahead);
                }
            }
            Err(error) if error.code() == ErrorCode::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    if facts.unpushed_commits.is_none() {
        facts.unpushed_commits = Some(count_unpushed(repo, commit.id())?);
    }
    Ok(())
}

/// Commits reachable from `head` that no remote-tracking branch has, up to [`UNPUSHED_LIMIT`].
fn count_unpushed(repo: &Repository, head: git2::Oid) -> Result<usize, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    for branch in repo.branches(Some(BranchType::Remote))? {
        let (branch, _) = branch?;
        if let Some(oid) = branch.get().target() {
            walk.hide(oid)?;
        }
    }
    let mut count = 0;
    for oid in walk.take(UNPUSHED_LIMIT) {
        oid?;
        count += 1;
    }
    Ok(count)
}

/// The entries of `required` the worktree lacks, in their order.
///
/// A name without a dot (`README`, `LICENSE`) is found in any case and with any extension or
/// suffix (`readme.md`, `LICENSE-MIT`, `Readme_old`); a name with a dot (`.gitignore`,
/// `compose.yaml`) only as written, ignoring case; a name with a `/` (`.github/workflows`) as a
/// path below the worktree.
pub(crate) fn missing_files(workdir: &Path, required: &[String]) -> Vec<String> {
    let names: Vec<String> = std::fs::read_dir(workdir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    required
        .iter()
        .filter(|wanted| {
            if wanted.contains('/') {
                return !workdir.join(wanted.as_str()).exists();
            }
            !names.iter().any(|name| file_matches(name, wanted))
        })
        .cloned()
        .collect()
}

/// Whether the top-level entry `name` satisfies the required file `wanted` (see [`missing_files`]).
fn file_matches(name: &str, wanted: &str) -> bool {
    if name.eq_ignore_ascii_case(wanted) {
        return true;
    }
    if wanted.contains('.') || name.len() <= wanted.len() || !name.is_char_boundary(wanted.len()) {
        return false;
    }
    let (stem, rest) = name.split_at(wanted.len());
    stem.eq_ignore_ascii_case(wanted) && rest.starts_with(['.', '-', '_'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_names_without_a_dot_match_any_case_and_extension() {
        assert!(file_matches("README.md", "README"));
        assert!(file_matches("readme", "README"));
        assert!(file_matches("Readme_old.txt", "README"));
        assert!(file_matches("LICENSE-MIT", "LICENSE"));
        assert!(!file_matches("READMEFIRST", "README"));
        assert!(!file_matches("READ", "README"));
        assert!(file_matches(".gitignore", ".gitignore"));
        assert!(file_matches(".GitIgnore", ".gitignore"));
        assert!(!file_matches(".gitignore.bak", ".gitignore"));
        assert!(!file_matches("é", "README"));
    }
}
