//! View changes: `git status` and the working tree's diff against HEAD, with per-file stats,
//! binary and oversized files named but not dumped, and a byte cap that says it truncated.

use git2::{Delta, DiffFindOptions, DiffOptions, Patch};
use serde::Serialize;

use crate::error::Result;
use crate::repo::{self, StatusEntry, git_error};
use crate::root::Target;

/// How much of a diff is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangesLimits {
    /// The patch text returned over all files, in bytes; files past it keep their stats but not
    /// their text, and [`Changes::truncated`] is set. 1 MiB by default.
    pub max_patch_bytes: usize,
    /// Files listed at most; the rest are counted in [`Changes::files_not_listed`]. 2,000 by default.
    pub max_files: usize,
    /// Files larger than this are not read for a diff (named, marked `too_large`). 4 MiB by default.
    pub max_file_bytes: u64,
}

impl Default for ChangesLimits {
    fn default() -> Self {
        Self { max_patch_bytes: 1024 * 1024, max_files: 2000, max_file_bytes: 4 * 1024 * 1024 }
    }
}

/// A working tree's changes against HEAD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// The branch HEAD is on, `None` when detached.
    pub branch: Option<String>,
    /// HEAD's commit id, `None` before the first commit.
    pub head: Option<String>,
    /// `git status`: ignored files left out, an untracked folder as one entry.
    pub status: Vec<StatusEntry>,
    /// Every changed file (staged, unstaged and untracked together) against HEAD.
    pub files: Vec<FileDiff>,
    /// Changed files beyond [`ChangesLimits::max_files`], not listed.
    pub files_not_listed: usize,
    /// Whether some patch text was left out (the byte cap, or the file cap).
    pub truncated: bool,
    /// Bytes of patch text returned.
    pub patch_bytes: usize,
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    /// The path in the working tree.
    pub path: String,
    /// The path before, for a rename.
    pub old_path: Option<String>,
    /// What happened to it.
    pub kind: ChangeKind,
    /// Lines added (0 for binary files).
    pub additions: usize,
    /// Lines removed (0 for binary files).
    pub deletions: usize,
    /// Whether git considers it binary: named, never dumped.
    pub binary: bool,
    /// Whether it is over [`ChangesLimits::max_file_bytes`] and was not read.
    pub too_large: bool,
    /// The unified diff of this file (text files within the caps only).
    pub patch: Option<String>,
}

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// New, staged or not.
    Added,
    /// Content changed.
    Modified,
    /// Removed.
    Deleted,
    /// Moved (and perhaps changed).
    Renamed,
    /// A file became a link or the other way round.
    Typechange,
    /// Conflicted.
    Conflicted,
}

/// The changes of `target`'s working tree. Reads only.
pub(crate) fn changes(target: &Target, limits: &ChangesLimits) -> Result<Changes> {
    let repo = repo::open(target, true)?;
    let status = repo::status_entries(target, &repo, false)?;
    let head = repo::head_commit(&repo);
    let head_tree = head
        .as_ref()
        .map(git2::Commit::tree)
        .transpose()
        .map_err(git_error(target, "read HEAD"))?;

    let mut options = DiffOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true)
        .include_typechange(true)
        .max_size(i64::try_from(limits.max_file_bytes).unwrap_or(i64::MAX));
    let mut diff = repo
        .diff_tree_to_workdir_with_index(head_tree.as_ref(), Some(&mut options))
        .map_err(git_error(target, "diff"))?;
    let mut find = DiffFindOptions::new();
    find.renames(true).for_untracked(true);
    diff.find_similar(Some(&mut find)).map_err(git_error(target, "find renames"))?;

    let n_deltas = diff.deltas().len();
    let mut files = Vec::with_capacity(n_deltas.min(limits.max_files));
    let mut patch_bytes = 0usize;
    let mut truncated = false;
    for index in 0..n_deltas.min(limits.max_files) {
        let Some(delta) = diff.get_delta(index) else { continue };
        let path_of = |file: git2::DiffFile<'_>| {
            file.path_bytes().map(|path| String::from_utf8_lossy(path).into_owned())
        };
        let new_path = path_of(delta.new_file());
        let old_path = path_of(delta.old_file());
        let kind = match delta.status() {
            Delta::Added | Delta::Untracked | Delta::Copied => ChangeKind::Added,
            Delta::Deleted => ChangeKind::Deleted,
            Delta::Renamed => ChangeKind::Renamed,
            Delta::Typechange => ChangeKind::Typechange,
            Delta::Conflicted => ChangeKind::Conflicted,
            _ => ChangeKind::Modified,
        };
        let too_large = delta.new_file().size() > limits.max_file_bytes
            || delta.old_file().size() > limits.max_file_bytes;
        let patch = Patch::from_diff(&diff, index).map_err(git_error(target, "diff"))?;
        let binary =
            !too_large && diff.get_delta(index).is_some_and(|delta| delta.flags().is_binary());
        let (mut additions, mut deletions, mut text) = (0, 0, None);
        if let Some(mut patch) = patch.filter(|_| !binary && !too_large) {
            let (_, added, deleted) = patch.line_stats().map_err(git_error(target, "diff"))?;
            (additions, deletions) = (added, deleted);
            let buf = patch.to_buf().map_err(git_error(target, "diff"))?;
            if patch_bytes + buf.len() <= limits.max_patch_bytes {
                patch_bytes += buf.len();
                text = Some(String::from_utf8_lossy(&buf).into_owned());
            } else {
                truncated = true;
            }
        }
        let path = new_path.clone().or_else(|| old_path.clone()).unwrap_or_default();
        let old_path = old_path.filter(|_| kind == ChangeKind::Renamed);
        files.push(FileDiff {
            path,
            old_path,
            kind,
            additions,
            deletions,
            binary,
            too_large,
            patch: text,
        });
    }
    let files_not_listed = n_deltas.saturating_sub(limits.max_files);
    Ok(Changes {
        branch: repo::branch_name(&repo),
        head: head.map(|commit| commit.id().to_string()),
        status: status.into_iter().map(|(entry, _)| entry).collect(),
        files,
        files_not_listed,
        truncated: truncated || files_not_listed > 0,
        patch_bytes,
    })
}
