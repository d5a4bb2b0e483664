//! Opening a target's repository with libgit2, exactly at its folder, and reading its status.

use std::path::{Component, Path};

use git2::{Repository, RepositoryOpenFlags, RepositoryState, Status, StatusOptions};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::root::Target;

/// Opens the repository at `target`'s folder. Never searches upward: a plain folder inside some
/// other repository is not that repository. With `need_worktree`, a bare repository is refused,
/// and so is a repository whose working tree is not the folder itself.
pub(crate) fn open(target: &Target, need_worktree: bool) -> Result<Repository> {
    let folder = target.existing()?;
    let not_a_repo =
        |reason: String| Error::NotARepository { name: target.name().to_owned(), reason };
    let repo = Repository::open_ext(folder, RepositoryOpenFlags::NO_SEARCH, [target.root()])
        .map_err(|error| not_a_repo(error.message().to_owned()))?;
    if need_worktree {
        let Some(workdir) = repo.workdir() else {
            return Err(not_a_repo("a bare repository has no working tree".to_owned()));
        };
        let same = std::fs::canonicalize(workdir).is_ok_and(|workdir| workdir == folder);
        if !same {
            return Err(not_a_repo(format!(
                "its working tree is {}, not the folder itself",
                workdir.display()
            )));
        }
    }
    Ok(repo)
}

/// Refuses a repository in the middle of a merge, rebase, cherry-pick, revert or bisect.
pub(crate) fn require_clean_state(target: &Target, repo: &Repository) -> Result<()> {
    let state = match repo.state() {
        RepositoryState::Clean => return Ok(()),
        RepositoryState::Merge => "merge",
        RepositoryState::Revert | RepositoryState::RevertSequence => "revert",
        RepositoryState::CherryPick | RepositoryState::CherryPickSequence => "cherry-pick",
        RepositoryState::Bisect => "bisect",
        RepositoryState::Rebase
        | RepositoryState::RebaseInteractive
        | RepositoryState::RebaseMerge => "rebase",
        RepositoryState::ApplyMailbox | RepositoryState::ApplyMailboxOrRebase => "git am",
    };
    Err(Error::InProgress { name: target.name().to_owned(), state: state.to_owned() })
}

/// A libgit2 error on `target`, as [`Error::Git`].
pub(crate) fn git_error(target: &Target, operation: &'static str) -> impl Fn(git2::Error) -> Error {
    let name = target.name().to_owned();
    move |cause| Error::Git { name: name.clone(), operation, cause }
}

/// One path in `git status --porcelain` form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct StatusEntry {
    /// The path relative to the working tree (`/`-separated; not UTF-8 bytes replaced).
    pub path: String,
    /// git's two-letter code: index then working tree (`M `, ` M`, `A `, `??`, `UU`, ...).
    pub code: String,
}

/// The changed paths of a working tree, as `git status` lists them: ignored files left out,
/// untracked folders as one entry unless `each_untracked_file`.
pub(crate) fn status_entries(
    target: &Target,
    repo: &Repository,
    each_untracked_file: bool,
) -> Result<Vec<(StatusEntry, Status)>> {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(each_untracked_file)
        .include_ignored(false)
        .exclude_submodules(false)
        .renames_head_to_index(false);
    let statuses = repo.statuses(Some(&mut options)).map_err(git_error(target, "git status"))?;
    let mut entries = Vec::with_capacity(statuses.len());
    for entry in statuses.iter() {
        let status = entry.status();
        let path = String::from_utf8_lossy(entry.path_bytes()).into_owned();
        entries.push((StatusEntry { path, code: porcelain_code(status) }, status));
    }
    entries.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    Ok(entries)
}

/// git's `XY` code for a libgit2 status.
pub(crate) fn porcelain_code(status: Status) -> String {
    if status.is_conflicted() {
        return "UU".to_owned();
    }
    if status.is_wt_new() && !status.intersects(index_bits()) {
        return "??".to_owned();
    }
    let index = if status.is_index_new() {
        'A'
    } else if status.is_index_modified() {
        'M'
    } else if status.is_index_deleted() {
        'D'
    } else if status.is_index_renamed() {
        'R'
    } else if status.is_index_typechange() {
        'T'
    } else {
        ' '
    };
    let worktree = if status.is_wt_modified() {
        'M'
    } else if status.is_wt_deleted() {
        'D'
    } else if status.is_wt_renamed() {
        'R'
    } else if status.is_wt_typechange() {
        'T'
    } else if status.is_wt_new() {
        '?'
    } else {
        ' '
    };
    format!("{index}{worktree}")
}

fn index_bits() -> Status {
    Status::INDEX_NEW
        | Status::INDEX_MODIFIED
        | Status::INDEX_DELETED
        | Status::INDEX_RENAMED
        | Status::INDEX_TYPECHANGE
}

/// `relative` joined under `base`, or `None` when it is not a plain relative path (libgit2 gives
/// only those; this is the belt to its braces before anything is removed).
pub(crate) fn join_inside(base: &Path, relative: &Path) -> Option<std::path::PathBuf> {
    let plain = relative.components().all(|part| matches!(part, Component::Normal(_)));
    (plain && relative.components().next().is_some()).then(|| base.join(relative))
}

/// The branch HEAD is on (also when unborn), or `None` when detached.
pub(crate) fn branch_name(repo: &Repository) -> Option<String> {
    match repo.head() {
        Ok(head) if head.is_branch() => head.shorthand().ok().map(str::to_owned),
        Ok(_) => None,
        Err(_) => repo
            .find_reference("HEAD")
            .ok()
            .and_then(|head| head.symbolic_target().ok().flatten().map(str::to_owned))
            .map(|target| target.trim_start_matches("refs/heads/").to_owned()),
    }
}

/// HEAD's commit, or `None` on an unborn branch.
pub(crate) fn head_commit(repo: &Repository) -> Option<git2::Commit<'_>> {
    repo.head().ok().and_then(|head| head.peel_to_commit().ok())
}
