//! Discard: put tracked files back as HEAD has them and remove untracked files, after a preview
//! that lists exactly what will be lost. The run refuses unless the repository still matches the
//! preview the user saw (its [`Fingerprint`]), so nothing unseen is ever lost.

use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use git2::build::CheckoutBuilder;
use git2::{ResetType, Status};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::outcome::{ActionKind, Outcome};
use crate::repo::{self, git_error, join_inside};
use crate::root::Target;

/// An opaque digest of what a discard preview showed: HEAD, every path to be lost, and each
/// file's size, time and inode. A run with another fingerprint is refused as stale.
///
/// It means something to the same server build only; after an upgrade the user previews again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

/// How a path's current content is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// A tracked file's edits (staged or not): it goes back to HEAD's content.
    Modified,
    /// A tracked file that was deleted: it comes back.
    Deleted,
    /// A tracked file that became a link or the other way round: it goes back.
    Typechange,
    /// A new file staged for commit: it is deleted.
    Added,
    /// An untracked file: it is deleted.
    Untracked,
}

/// One path whose content a discard loses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostPath {
    /// The path in the working tree.
    pub path: String,
    /// How it is lost.
    pub loss: Loss,
}

/// Exactly what a discard would lose, and what it keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscardPreview {
    /// The commit tracked files go back to.
    pub head: String,
    /// Every path whose current content is lost, sorted.
    pub lost: Vec<LostPath>,
    /// Untracked paths that are kept: repositories nested inside the working tree. Ignored files
    /// are kept too and not listed.
    pub kept: Vec<String>,
    /// Pass this back to run the discard this preview describes.
    pub fingerprint: Fingerprint,
}

/// A path to lose, with its exact bytes.
struct Lost {
    path: PathBuf,
    loss: Loss,
}

fn loss_of(status: Status) -> Loss {
    let untracked_only = status.is_wt_new()
        && !status.intersects(
            Status::INDEX_NEW
                | Status::INDEX_MODIFIED
                | Status::INDEX_DELETED
                | Status::INDEX_RENAMED
                | Status::INDEX_TYPECHANGE,
        );
    if untracked_only {
        Loss::Untracked
    } else if status.is_index_new() {
        Loss::Added
    } else if status.is_index_typechange() || status.is_wt_typechange() {
        Loss::Typechange
    } else if status.is_index_modified()
        || status.is_wt_modified()
        || status.is_index_renamed()
        || status.is_wt_renamed()
        || status.is_conflicted()
    {
        Loss::Modified
    } else {
        Loss::Deleted
    }
}

/// Computes the preview and the exact paths behind it.
fn plan(target: &Target) -> Result<(DiscardPreview, Vec<Lost>)> {
    let repo = repo::open(target, true)?;
    repo::require_clean_state(target, &repo)?;
    let Some(head) = repo::head_commit(&repo) else {
        return Err(Error::NothingToDo {
            reason: "the repository has no commit to go back to".to_owned(),
        });
    };
    let workdir = target.existing()?.to_owned();
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .renames_head_to_index(false);
    let statuses = repo.statuses(Some(&mut options)).map_err(git_error(target, "git status"))?;
    let mut lost = Vec::new();
    let mut kept = Vec::new();
    for entry in statuses.iter() {
        let bytes = entry.path_bytes();
        let loss = loss_of(entry.status());
        // libgit2 lists an untracked repository nested in the tree as `dir/` and never looks
        // inside; `git clean -d` keeps those too.
        if loss == Loss::Untracked && bytes.ends_with(b"/") {
            kept.push(String::from_utf8_lossy(bytes).into_owned());
            continue;
        }
        lost.push(Lost { path: PathBuf::from(std::ffi::OsStr::from_bytes(bytes)), loss });
    }
    lost.sort_by(|a, b| a.path.cmp(&b.path));
    kept.sort();

    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    head.id().as_bytes().hash(&mut hasher);
    for item in &lost {
        item.path.as_os_str().as_bytes().hash(&mut hasher);
        item.loss.hash(&mut hasher);
        match std::fs::symlink_metadata(workdir.join(&item.path)) {
            Ok(meta) => (meta.len(), meta.mtime(), meta.mtime_nsec(), meta.ino()).hash(&mut hasher),
            Err(_) => "absent".hash(&mut hasher),
        }
    }
    kept.hash(&mut hasher);
    let preview = DiscardPreview {
        head: head.id().to_string(),
        lost: lost
            .iter()
            .map(|item| LostPath {
                path: String::from_utf8_lossy(item.path.as_os_str().as_bytes()).into_owned(),
                loss: item.loss,
            })
            .collect(),
        kept,
        fingerprint: Fingerprint(format!("{:016x}", hasher.finish())),
    };
    Ok((preview, lost))
}

/// Exactly what discarding would lose. Reads only.
pub(crate) fn preview(target: &Target) -> Result<DiscardPreview> {
    plan(target).map(|(preview, _)| preview)
}

/// Discards, if the repository still matches the preview whose fingerprint is given.
pub(crate) fn run(target: &Target, fingerprint: &Fingerprint) -> Result<Outcome> {
    let (preview, lost) = plan(target)?;
    if &preview.fingerprint != fingerprint {
        return Err(Error::PreviewStale { name: target.name().to_owned() });
    }
    if lost.is_empty() {
        return Err(Error::NothingToDo { reason: "the working tree has no changes".to_owned() });
    }
    let repo = repo::open(target, true)?;
    let workdir = target.existing()?.to_owned();
    let head = repo::head_commit(&repo).ok_or_else(|| Error::NothingToDo {
        reason: "the repository has no commit to go back to".to_owned(),
    })?;
    let mut checkout = CheckoutBuilder::new();
    checkout.force();
    repo.reset(head.as_object(), ResetType::Hard, Some(&mut checkout))
        .map_err(git_error(target, "reset"))?;

    let mut notes = Vec::new();
    for item in lost.iter().filter(|item| matches!(item.loss, Loss::Untracked | Loss::Added)) {
        let Some(path) = join_inside(&workdir, &item.path) else { continue };
        match remove_untracked(&workdir, &path) {
            Ok(()) => {}
            Err(cause) => {
                return Err(Error::Io { operation: "cannot remove", path, cause });
            }
        }
    }
    let left = repo::status_entries(target, &repo, true)?;
    let still: Vec<&str> = left
        .iter()
        .map(|(entry, _)| entry.path.as_str())
        .filter(|path| !preview.kept.iter().any(|kept| kept == path))
        .collect();
    if !still.is_empty() {
        notes.push(format!("still changed afterwards: {}", still.join(", ")));
    }
    let short = &preview.head[..12.min(preview.head.len())];
    notes.insert(0, format!("HEAD is now at {short}; {} paths discarded", preview.lost.len()));
    Ok(Outcome {
        action: ActionKind::Discard,
        repo: target.name().to_owned(),
        summary: format!("discarded {} paths, back to {short}", preview.lost.len()),
        changed: preview.lost.into_iter().map(|item| item.path).collect(),
        commit: Some(preview.head),
        trash_entry: None,
        output: notes.join("\n"),
    })
}

/// Removes one untracked file (a link as a link) and then its parent folders that it left empty,
/// never leaving the working tree. Every folder on the way must be a real folder, not a link
/// that was swapped in since the preview.
fn remove_untracked(workdir: &Path, path: &Path) -> std::io::Result<()> {
    let mut ancestor = path.parent();
    while let Some(folder) = ancestor.filter(|folder| *folder != workdir) {
        if std::fs::symlink_metadata(folder)?.file_type().is_symlink() {
            return Err(std::io::Error::other("a folder on the way became a symlink"));
        }
        ancestor = folder.parent();
    }
    match std::fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => std::fs::remove_file(path)?,
    }
    let mut parent = path.parent();
    while let Some(folder) =
        parent.filter(|folder| *folder != workdir && folder.starts_with(workdir))
    {
        if std::fs::remove_dir(folder).is_err() {
            break;
        }
        parent = folder.parent();
    }
    Ok(())
}
