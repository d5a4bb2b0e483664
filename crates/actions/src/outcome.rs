//! The values actions take and give: what to do ([`Action`]), what it would do ([`Preview`]) and
//! what it did ([`Outcome`]).

use serde::Serialize;

use crate::changes::Changes;
use crate::clone::ClonePreview;
use crate::commit::CommitPreview;
use crate::discard::{DiscardPreview, Fingerprint};
use crate::remote::FixRemotePreview;
use crate::sync::SyncPreview;
use crate::trash::{DeletePreview, RestorePreview};

/// Which action, by the name the HTTP API uses (`fix-remote`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// View changes (reads only).
    Changes,
    /// Clone a missing repository.
    Clone,
    /// Stage everything and commit.
    Commit,
    /// Reset tracked files, remove untracked ones.
    Discard,
    /// Point `origin` at the expected URL.
    FixRemote,
    /// Move the folder to the trash.
    Delete,
    /// Move a trash entry back.
    Restore,
    /// Push the current branch to its upstream.
    Push,
    /// Fast-forward the current branch to its upstream.
    Pull,
}

impl ActionKind {
    /// Every kind.
    pub const ALL: [ActionKind; 9] = [
        Self::Changes,
        Self::Clone,
        Self::Commit,
        Self::Discard,
        Self::FixRemote,
        Self::Delete,
        Self::Restore,
        Self::Push,
        Self::Pull,
    ];

    /// The API name: `changes`, `clone`, `commit`, `discard`, `fix-remote`, `delete`, `restore`,
    /// `push`, `pull`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Changes => "changes",
            Self::Clone => "clone",
            Self::Commit => "commit",
            Self::Discard => "discard",
            Self::FixRemote => "fix-remote",
            Self::Delete => "delete",
            Self::Restore => "restore",
            Self::Push => "push",
            Self::Pull => "pull",
        }
    }

    /// The kind named `name` (an API name, or `fix_remote` as the old dashboard links wrote it).
    pub fn parse(name: &str) -> Option<Self> {
        let name = if name == "fix_remote" { "fix-remote" } else { name };
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action on one repository of the report, with what it needs from the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Clone the repository (absent from the root) from its `clone_url`.
    Clone,
    /// Stage everything and commit with `message`.
    Commit {
        /// The commit message.
        message: String,
    },
    /// Reset tracked files to HEAD and remove untracked ones (ignored files stay).
    Discard {
        /// The repository's name, typed by the user. Not needed to preview.
        confirm: String,
        /// The fingerprint of the preview the user saw. Not needed to preview.
        fingerprint: Option<Fingerprint>,
    },
    /// Set `origin` to the repository's `expected_url` (or `clone_url`).
    FixRemote,
    /// Move the folder into the trash.
    Delete {
        /// The repository's name, typed by the user. Not needed to preview.
        confirm: String,
    },
    /// Push the current branch to its upstream.
    Push,
    /// Fast-forward the current branch to its upstream (`git pull --ff-only`).
    Pull,
}

impl Action {
    /// Its kind.
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Clone => ActionKind::Clone,
            Self::Commit { .. } => ActionKind::Commit,
            Self::Discard { .. } => ActionKind::Discard,
            Self::FixRemote => ActionKind::FixRemote,
            Self::Delete { .. } => ActionKind::Delete,
            Self::Push => ActionKind::Push,
            Self::Pull => ActionKind::Pull,
        }
    }
}

/// What an action would do, computed without changing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Preview {
    /// What [`crate::Actions::changes`] returns, wrapped for an [`crate::ActionRecord`] of a view
    /// (`result.map(Preview::Changes)`).
    Changes(Changes),
    /// Where a clone would come from and go.
    Clone(ClonePreview),
    /// What a commit would stage.
    Commit(CommitPreview),
    /// Exactly what a discard would lose.
    Discard(DiscardPreview),
    /// The remote URL, old and new.
    FixRemote(FixRemotePreview),
    /// What would move to the trash, and where.
    Delete(DeletePreview),
    /// What would come back from the trash, and where.
    Restore(RestorePreview),
    /// The commits a push would send.
    Push(SyncPreview),
    /// The commits a pull would bring (as far as the last fetch knows).
    Pull(SyncPreview),
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Which action.
    pub action: ActionKind,
    /// The repository's name.
    pub repo: String,
    /// One line for people: what changed.
    pub summary: String,
    /// The paths, refs or URLs that changed (for a discard: exactly the paths whose content was
    /// lost, as its preview listed them).
    pub changed: Vec<String>,
    /// The commit made or now checked out, when there is one.
    pub commit: Option<String>,
    /// The trash entry a delete made, or a restore emptied.
    pub trash_entry: Option<String>,
    /// git's output (credentials redacted, capped), or what libgit2 did in git's words.
    pub output: String,
}
