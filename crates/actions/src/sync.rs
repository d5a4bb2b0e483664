//! Push (ahead) and fast-forward pull (behind) of the current branch against its upstream. The
//! preview reads libgit2's view as of the last fetch (no network); the run is the `git` program
//! with the URL checked by the policy and the remote's upload and receive programs pinned.

use std::ffi::OsString;

use git2::Repository;
use serde::Serialize;

use crate::clone::GitRunner;
use crate::error::{Error, Result};
use crate::git;
use crate::outcome::{ActionKind, Outcome};
use crate::repo::{self, git_error};
use crate::root::Target;
use crate::url::{UrlPolicy, check_clone_url};

/// Commits listed at most in a preview.
const MAX_LISTED: usize = 100;

/// What a push or pull would move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncPreview {
    /// The current branch.
    pub branch: String,
    /// Its upstream, e.g. `origin/main`.
    pub upstream: String,
    /// The remote's URL (the push URL for a push), credentials redacted.
    pub url: String,
    /// Commits the branch has that the upstream lacks.
    pub ahead: usize,
    /// Commits the upstream has that the branch lacks, as of the last fetch.
    pub behind: usize,
    /// The commits that would move (sent by a push, received by a pull), newest first, up to 100.
    pub commits: Vec<CommitLine>,
}

/// One commit, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitLine {
    /// Its id.
    pub id: String,
    /// Its first line.
    pub summary: String,
}

/// The branch, its upstream and the remote behind it.
struct Tracking {
    branch: String,
    /// `refs/heads/<branch>`.
    local_ref: String,
    /// The remote's name.
    remote: String,
    /// The upstream branch on the remote (`refs/heads/main`).
    merge_ref: String,
    /// The remote-tracking branch (`origin/main`).
    upstream: String,
    local: git2::Oid,
    tracked: git2::Oid,
}

fn tracking(target: &Target, repo: &Repository) -> Result<Tracking> {
    let no_upstream = || Error::NoUpstream { name: target.name().to_owned() };
    let head = repo.head().map_err(|_| no_upstream())?;
    if !head.is_branch() {
        return Err(no_upstream());
    }
    let local_ref = head.name().map_err(|_| no_upstream())?.to_owned();
    let branch = head.shorthand().map_err(|_| no_upstream())?.to_owned();
    let local = head.target().ok_or_else(no_upstream)?;
    let text = |buf: git2::Buf| buf.as_str().map(str::to_owned).map_err(|_| no_upstream());
    let remote = text(repo.branch_upstream_remote(&local_ref).map_err(|_| no_upstream())?)?;
    let merge_ref = text(repo.branch_upstream_merge(&local_ref).map_err(|_| no_upstream())?)?;
    let upstream_ref = text(repo.branch_upstream_name(&local_ref).map_err(|_| no_upstream())?)?;
    let tracked = repo
        .find_reference(&upstream_ref)
        .ok()
        .and_then(|reference| reference.target())
        .ok_or_else(no_upstream)?;
    let upstream = upstream_ref.trim_start_matches("refs/remotes/").to_owned();
    Ok(Tracking { branch, local_ref, remote, merge_ref, upstream, local, tracked })
}

/// The remote's URL for `push` or fetch, checked by the policy.
fn remote_url(
    target: &Target,
    repo: &Repository,
    remote: &str,
    push: bool,
    policy: &UrlPolicy,
) -> Result<crate::url::CloneUrl> {
    let found = repo.find_remote(remote).map_err(git_error(target, "read the remote"))?;
    let url = if push {
        found.pushurl_bytes().or(Some(found.url_bytes()))
    } else {
        Some(found.url_bytes())
    };
    let url = url.map(String::from_utf8_lossy).unwrap_or_default();
    check_clone_url(&url, policy)
}

fn commits_between(
    repo: &Repository,
    from: git2::Oid,
    hide: git2::Oid,
) -> Result<Vec<CommitLine>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.push(from)?;
    walk.hide(hide)?;
    let mut lines = Vec::new();
    for id in walk.take(MAX_LISTED) {
        let commit = repo.find_commit(id?)?;
        lines.push(CommitLine {
            id: commit.id().to_string(),
            summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                .into_owned(),
        });
    }
    Ok(lines)
}

/// What pushing (`push`) or pulling would move. Reads only; no network.
pub(crate) fn preview(target: &Target, push: bool, policy: &UrlPolicy) -> Result<SyncPreview> {
    let repo = repo::open(target, true)?;
    let tracking = tracking(target, &repo)?;
    let url = remote_url(target, &repo, &tracking.remote, push, policy)?;
    let (ahead, behind) = repo
        .graph_ahead_behind(tracking.local, tracking.tracked)
        .map_err(git_error(target, "count commits"))?;
    let (from, hide) =
        if push { (tracking.local, tracking.tracked) } else { (tracking.tracked, tracking.local) };
    let commits = commits_between(&repo, from, hide).map_err(git_error(target, "list commits"))?;
    Ok(SyncPreview {
        branch: tracking.branch,
        upstream: tracking.upstream,
        url: url.redacted(),
        ahead,
        behind,
        commits,
    })
}

/// Pushes the current branch to its upstream, or fast-forwards it to the upstream.
pub(crate) fn run(
    target: &Target,
    push: bool,
    policy: &UrlPolicy,
    runner: &GitRunner,
) -> Result<Outcome> {
    let preview = preview(target, push, policy)?;
    let repo = repo::open(target, true)?;
    let tracking = tracking(target, &repo)?;
    if push && preview.ahead == 0 {
        return Err(Error::NothingToDo {
            reason: format!("{} has nothing {} lacks", preview.branch, preview.upstream),
        });
    }
    if !push {
        repo::require_clean_state(target, &repo)?;
        if preview.ahead > 0 {
            return Err(Error::NotFastForward {
                name: target.name().to_owned(),
                ahead: preview.ahead,
            });
        }
    }
    let workdir = target.existing()?;
    let remote = &tracking.remote;
    // A repository's config can name another program as the remote's upload or receive side,
    // which git runs locally (through a shell) for file URLs. `-c remote.<name>.receivepack=`
    // cannot override it (git keeps the first value it reads, the repository's); the command-line
    // option does. The value is fixed here, never taken from a request.
    let mut args: Vec<OsString> = Vec::new();
    let operation = if push {
        args.extend([
            "push".into(),
            "--porcelain".into(),
            "--receive-pack=git-receive-pack".into(),
        ]);
        args.extend(["--".into(), remote.into()]);
        args.push(format!("{}:{}", tracking.local_ref, tracking.merge_ref).into());
        "push"
    } else {
        args.extend(["pull".into(), "--ff-only".into(), "--no-rebase".into(), "--no-edit".into()]);
        args.push("--upload-pack=git-upload-pack".into());
        args.extend(["--".into(), remote.into(), tracking.merge_ref.clone().into()]);
        "pull"
    };
    let output = git::run(&runner.command(target, workdir, operation, args))?;
    let head = repo::head_commit(&repo).map(|commit| commit.id().to_string());
    let (action, summary) = if push {
        (
            ActionKind::Push,
            format!(
                "pushed {} commits of {} to {}",
                preview.ahead, preview.branch, preview.upstream
            ),
        )
    } else {
        (ActionKind::Pull, format!("fast-forwarded {} to {}", preview.branch, preview.upstream))
    };
    Ok(Outcome {
        action,
        repo: target.name().to_owned(),
        summary,
        changed: vec![if push { tracking.merge_ref } else { tracking.local_ref }],
        commit: head,
        trash_entry: None,
        output,
    })
}
