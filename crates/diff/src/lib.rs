//! Per-repository changes between two gitops audit reports, as RFC 6902 patches: diff, apply, compose.
//!
//! A report's repositories are keyed by `(name, dup)`: `dup` counts earlier repositories of the
//! same name in the report's order, from 0 (producers do repeat names). [`diff`] pairs the old and
//! new repositories by that key, so reordering the list is not a change and inserting one
//! repository at the front is one [`RepoChangeKind::Added`]. Unchanged repositories cost one typed
//! `==` (the common prefix and suffix of names are paired by position, without hashing); only the
//! ones that differ are turned into JSON and diffed into a patch relative to the repository object.
//!
//! A [`Changes`] is applied one [`RepoChange`] after the other, as a client applies one
//! `repo-status-change` message after the other. [`diff`] orders its output so that every key is
//! valid at the moment its change is applied: for each name, additions come in rising `dup` order
//! after the existing repositories of that name, and removals take the highest `dup` first. [`compose`]
//! relies on that canonical form and keeps it.
//!
//! The JSON forms are defined in `docs/protocol.md`: a [`RepoChange`] is `repo-status-change` data,
//! a [`Meta`] is `health-metrics-update` data, and a [`Changes`] is `catch-up` data without `since`.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod apply;
mod between;
mod compose;
mod diff;
mod state;
mod wire;

use gitops_report::{Repo, Status};
use serde::{Deserialize, Serialize};

pub use apply::{apply, apply_in_place, apply_repo_change};
pub use between::{catch_up, change_between};
pub use compose::compose;
pub use diff::diff;
pub use state::{meta_delta, meta_of, same_state};

/// Top-level fields of a report (never `repos`), as JSON: all of them from [`meta_of`], or only the
/// changed ones (`null` for removed) in a [`Changes`] and in `health-metrics-update` data.
pub type Meta = serde_json::Map<String, serde_json::Value>;

/// What changed between two reports: `catch-up` data without its `since` cursor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Changes {
    /// One entry per repository added, removed or changed, in the order they must be applied.
    pub repos: Vec<RepoChange>,
    /// The new report's top-level fields, when any of them changed; `null` on the wire otherwise.
    #[serde(default)]
    pub meta: Option<Meta>,
}

impl Changes {
    /// Whether applying these changes would leave any report as it is.
    pub fn is_empty(&self) -> bool {
        self.repos.is_empty() && self.meta.is_none()
    }
}

/// One repository added, removed or changed: `repo-status-change` data.
///
/// Serialises as `{"name": .., "dup": .., "change": "added" | "removed" | "changed", ..}`, with
/// `dup` left out when it is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoChange {
    /// The repository's name.
    pub name: String,
    /// Which repository of that name: the number of earlier ones with the same name, from 0.
    pub dup: u32,
    /// What happened to it.
    pub kind: RepoChangeKind,
}

/// What happened to one repository.
#[derive(Debug, Clone, PartialEq)]
pub enum RepoChangeKind {
    /// The repository is new; it goes after the existing repositories of the same name.
    Added {
        /// The whole repository.
        repo: Repo,
    },
    /// The repository is gone.
    Removed {
        /// Its status before it went.
        old_status: Status,
    },
    /// The repository changed.
    Changed {
        /// Its status before.
        old_status: Status,
        /// Its status after.
        new_status: Status,
        /// An RFC 6902 patch from the old repository object to the new one, paths relative to it.
        ops: json_patch::Patch,
    },
}

impl RepoChangeKind {
    /// The repository's status before the change, unless it was just added.
    pub fn old_status(&self) -> Option<&Status> {
        match self {
            Self::Added { .. } => None,
            Self::Removed { old_status } | Self::Changed { old_status, .. } => Some(old_status),
        }
    }

    /// The repository's status after the change, unless it was removed.
    pub fn new_status(&self) -> Option<&Status> {
        match self {
            Self::Added { repo } => Some(&repo.status),
            Self::Removed { .. } => None,
            Self::Changed { new_status, .. } => Some(new_status),
        }
    }
}

/// Why changes could not be applied.
///
/// Every variant means the changes do not fit the report they were applied to: the state has
/// diverged from the sender's. The caller should drop its state and fetch a full report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A removal or change names a repository the report does not have. Fetch a full report.
    #[error("the report has no repository {name:?} with dup {dup}")]
    MissingRepo {
        /// The name the change gave.
        name: String,
        /// The occurrence the change gave.
        dup: u32,
    },
    /// An addition's `dup` is not the number of repositories of that name already there, so the
    /// report does not hold what the sender thought. Fetch a full report.
    #[error(
        "cannot add repository {name:?} with dup {dup}: the report has {existing} of that name"
    )]
    AddedOutOfPlace {
        /// The name the change gave.
        name: String,
        /// The occurrence the change gave.
        dup: u32,
        /// How many repositories of that name the report has.
        existing: usize,
    },
    /// An added or patched repository's `name` is not the name the change gave. The changes are
    /// malformed; fetch a full report.
    #[error("the change is for repository {name:?} but its result is named {found:?}")]
    NameMismatch {
        /// The name the change gave.
        name: String,
        /// The name of the resulting repository.
        found: String,
    },
    /// A patch could not be applied to the repository it names. Fetch a full report.
    #[error("cannot patch repository {name:?} with dup {dup}")]
    Patch {
        /// The name the change gave.
        name: String,
        /// The occurrence the change gave.
        dup: u32,
        /// Which operation failed, and why.
        #[source]
        source: json_patch::PatchError,
    },
    /// A patch applied, but its result is not a repository (say, it removed `name`). Fetch a full report.
    #[error("patching repository {name:?} with dup {dup} did not leave a valid repository")]
    InvalidRepo {
        /// The name the change gave.
        name: String,
        /// The occurrence the change gave.
        dup: u32,
        /// What is wrong with the result.
        #[source]
        source: serde_json::Error,
    },
    /// The new top-level fields are not valid report fields (say, `summary` is a string). Fetch a
    /// full report.
    #[error("the new top-level fields are not valid report fields")]
    InvalidMeta(#[source] serde_json::Error),
}

/// A result whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
