//! Commit: stage everything (new, changed and deleted files; ignored ones stay out) and commit it
//! on the current branch with the user's message, through libgit2 (no hooks, no editor).

use git2::{IndexAddOption, Signature};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::outcome::{ActionKind, Outcome};
use crate::repo::{self, StatusEntry, git_error};
use crate::root::Target;

/// The longest commit message accepted, in bytes.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Who commits. When [`crate::ActionsConfig::author`] is `None`, git's own configuration
/// (`user.name`, `user.email`: the repository's, then the user's, then the system's) is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The name.
    pub name: String,
    /// The e-mail address.
    pub email: String,
}

/// What a commit would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitPreview {
    /// The branch that gets the commit, `None` when HEAD is detached.
    pub branch: Option<String>,
    /// Every path that will be staged, in `git status` form.
    pub files: Vec<StatusEntry>,
    /// The message, as it will be written.
    pub message: String,
    /// `Name <email>`.
    pub author: String,
}

/// Checks a commit message and returns it as it will be written: surrounding blank space removed,
/// one final newline. Pure.
pub fn check_commit_message(message: &str) -> Result<String> {
    let message = message.trim();
    if message.is_empty() {
        return Err(Error::BadMessage { reason: "it is empty" });
    }
    if message.contains('\0') {
        return Err(Error::BadMessage { reason: "it has a NUL character" });
    }
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(Error::BadMessage { reason: "it is longer than 64 KiB" });
    }
    Ok(format!("{message}\n"))
}

fn signature(
    target: &Target,
    repo: &git2::Repository,
    author: Option<&Identity>,
) -> Result<Signature<'static>> {
    match author {
        Some(author) => Signature::now(&author.name, &author.email)
            .map_err(git_error(target, "make the author")),
        None => repo.signature().map_err(|cause| Error::NoIdentity { cause }),
    }
}

fn describe(signature: &Signature<'_>) -> String {
    format!(
        "{} <{}>",
        String::from_utf8_lossy(signature.name_bytes()),
        String::from_utf8_lossy(signature.email_bytes())
    )
}

/// What committing `message` would stage and record.
pub(crate) fn preview(
    target: &Target,
    message: &str,
    author: Option<&Identity>,
) -> Result<CommitPreview> {
    let message = check_commit_message(message)?;
    let repo = repo::open(target, true)?;
    repo::require_clean_state(target, &repo)?;
    let entries = repo::status_entries(target, &repo, true)?;
    if entries.iter().any(|(_, status)| status.is_conflicted()) {
        return Err(Error::InProgress {
            name: target.name().to_owned(),
            state: "conflict".to_owned(),
        });
    }
    let signature = signature(target, &repo, author)?;
    Ok(CommitPreview {
        branch: repo::branch_name(&repo),
        files: entries.into_iter().map(|(entry, _)| entry).collect(),
        message,
        author: describe(&signature),
    })
}

/// Stages everything and commits it.
pub(crate) fn run(target: &Target, message: &str, author: Option<&Identity>) -> Result<Outcome> {
    let preview = preview(target, message, author)?;
    if preview.files.is_empty() {
        return Err(Error::NothingToDo { reason: "the working tree has no changes".to_owned() });
    }
    let repo = repo::open(target, true)?;
    let signature = signature(target, &repo, author)?;
    let stage = git_error(target, "stage");
    let mut index = repo.index().map_err(&stage)?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None).map_err(&stage)?;
    // `add_all` adds and updates; removed files leave the index through `update_all`.
    index.update_all(["*"], None).map_err(&stage)?;
    index.write().map_err(&stage)?;
    let tree_id = index.write_tree().map_err(&stage)?;
    let tree = repo.find_tree(tree_id).map_err(&stage)?;
    let parent = repo::head_commit(&repo);
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let commit = repo
        .commit(Some("HEAD"), &signature, &signature, &preview.message, &tree, &parents)
        .map_err(git_error(target, "commit"))?;
    let short = &commit.to_string()[..12];
    let on = preview.branch.as_deref().map_or_else(|| "a detached HEAD".to_owned(), str::to_owned);
    Ok(Outcome {
        action: ActionKind::Commit,
        repo: target.name().to_owned(),
        summary: format!("committed {} paths as {short} on {on}", preview.files.len()),
        changed: preview.files.iter().map(|entry| entry.path.clone()).collect(),
        commit: Some(commit.to_string()),
        trash_entry: None,
        output: format!("[{on} {short}] {}", preview.message.lines().next().unwrap_or_default()),
    })
}
