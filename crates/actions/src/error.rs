//! The crate's one error type: every variant says what the caller should do about it.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can stop an action. [`Error::class`] sorts them for an HTTP answer;
/// [`Error::is_refusal`] says whether anything was attempted at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The audit root cannot be used (absent, not a folder, unreadable). Fix the configured path;
    /// no action can run without it.
    #[error("the audit root {path} cannot be used: {cause}")]
    Root {
        /// The root as configured.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A repository or folder name that cannot be one folder directly inside the root (`..`,
    /// a slash, a leading `-`, NUL, a newline, ...). Refused before anything was touched: answer
    /// 400 with the reason.
    #[error("refusing the name {name:?}: {reason}")]
    BadName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The repository's folder lies outside the audit root once symlinks are resolved, or the
    /// report places it elsewhere. Refused before anything was touched: answer 403; the folder
    /// must be moved into the root to be acted on.
    #[error("refusing {name:?}: {path} is outside the audit root")]
    OutsideRoot {
        /// The repository.
        name: String,
        /// Where it actually is.
        path: PathBuf,
    },
    /// The repository has no folder in the root. Clone it first, or re-audit: the report is older
    /// than the disk.
    #[error("{name:?} has no folder in the audit root")]
    NoFolder {
        /// The repository.
        name: String,
    },
    /// Something already occupies the folder a clone or restore would create. Delete or rename
    /// it first, or re-audit.
    #[error("{name:?} already exists in the audit root")]
    FolderExists {
        /// The folder name.
        name: String,
    },
    /// The folder is no repository this action can work on (not git, bare where a working tree
    /// is needed, or unreadable). Re-audit; nothing was touched.
    #[error("{name:?} cannot be used as a repository: {reason}")]
    NotARepository {
        /// The repository.
        name: String,
        /// Why.
        reason: String,
    },
    /// The clone or remote URL is refused by the URL policy. Correct the URL in the expected list,
    /// or add its folder to [`crate::UrlPolicy::file_roots`] for `file://` URLs. Answer 400.
    #[error("refusing the url {url:?}: {reason}")]
    UrlRefused {
        /// The URL, with any credentials replaced by `***`.
        url: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The report gives no URL for this repository (`clone_url` or `expected_url`). Fix the
    /// expected list and re-audit.
    #[error("the report gives no url for {name:?}")]
    NoUrl {
        /// The repository.
        name: String,
    },
    /// Another action on this repository is running. Answer 409; try again when it ends.
    #[error("another action is running on {name:?}")]
    Busy {
        /// The repository.
        name: String,
    },
    /// The typed confirmation is not the repository's name. Ask the user to type the name.
    #[error("the confirmation does not match the repository name {name:?}")]
    NotConfirmed {
        /// The repository.
        name: String,
    },
    /// Discarding needs the fingerprint of the preview the user saw. Preview first and pass its
    /// fingerprint back.
    #[error("discarding needs the fingerprint of a preview")]
    PreviewRequired,
    /// The repository changed since the preview, so what would be lost is no longer what was shown.
    /// Nothing was touched: preview again (answer 409).
    #[error("{name:?} changed since the preview; preview again")]
    PreviewStale {
        /// The repository.
        name: String,
    },
    /// There is nothing to do (nothing to commit or discard, origin already right, nothing to push
    /// or pull). Nothing was touched; show the reason.
    #[error("nothing to do: {reason}")]
    NothingToDo {
        /// Why.
        reason: String,
    },
    /// A merge, rebase, cherry-pick or conflict is in progress. Finish or abort it in a shell.
    #[error("{name:?} is in the middle of a {state}; finish or abort it first")]
    InProgress {
        /// The repository.
        name: String,
        /// What is in progress.
        state: String,
    },
    /// The commit message is empty, too long or holds a NUL. Ask for another message.
    #[error("bad commit message: {reason}")]
    BadMessage {
        /// Why.
        reason: &'static str,
    },
    /// No commit author: none configured for the actions and no `user.name` / `user.email` in git's
    /// configuration. Configure one.
    #[error("no commit author configured: {cause}")]
    NoIdentity {
        /// libgit2's answer.
        cause: git2::Error,
    },
    /// The branch has no upstream (or HEAD is detached), so there is nowhere to push or pull.
    /// Set an upstream in a shell.
    #[error("{name:?} has no upstream branch to push to or pull from")]
    NoUpstream {
        /// The repository.
        name: String,
    },
    /// The branch and its upstream have both moved: a pull would need a merge. Merge or rebase in
    /// a shell.
    #[error("{name:?} cannot be fast-forwarded: it has {ahead} commits of its own")]
    NotFastForward {
        /// The repository.
        name: String,
        /// Local commits the upstream lacks.
        ahead: usize,
    },
    /// libgit2 failed on the repository. Show the message; the repository may be damaged or
    /// locked by another git (an `index.lock`).
    #[error("{operation} failed on {name:?}: {cause}")]
    Git {
        /// The repository.
        name: String,
        /// What was being done.
        operation: &'static str,
        /// libgit2's error.
        cause: git2::Error,
    },
    /// The `git` program could not be started. Install git or configure its path.
    #[error("cannot run {program}: {cause}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// `git` ran and failed. Show its output; nothing was left half done by this crate.
    #[error("git {operation} failed ({}): {output}", exit_text(*.code))]
    GitFailed {
        /// What was being done.
        operation: &'static str,
        /// git's exit code, if it exited.
        code: Option<i32>,
        /// What git printed, credentials redacted, capped.
        output: String,
    },
    /// `git` did not finish in time and was killed with its process group; anything it had
    /// started was removed. Check the network and the URL, or raise the timeout.
    #[error("git {operation} did not finish within {} s and was stopped", after.as_secs_f32())]
    TimedOut {
        /// What was being done.
        operation: &'static str,
        /// The timeout.
        after: Duration,
        /// What git printed before it was stopped.
        output: String,
    },
    /// A file operation failed. Check the path's permissions and space.
    #[error("{operation} {path}: {cause}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The trash folder is on another filesystem than the root, so a delete would be a copy and
    /// a removal. Choose a trash folder on the root's filesystem (`<root>/.trash` is skipped by
    /// the auditor).
    #[error("the trash {trash} is on another filesystem than the audit root")]
    TrashOnOtherFilesystem {
        /// The trash folder.
        trash: PathBuf,
    },
    /// The trash folder overlaps what it would hold (it is inside the folder being deleted, or
    /// the root is inside it). Choose another trash folder.
    #[error("the trash {trash} overlaps the folders it would hold")]
    TrashInsideTarget {
        /// The trash folder.
        trash: PathBuf,
    },
    /// No trash entry of that name. List the trash again (answer 404).
    #[error("no trash entry {entry:?}")]
    NoTrashEntry {
        /// The entry name asked for.
        entry: String,
    },
}

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How an HTTP layer should answer an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// The request itself is wrong (a name, URL, message or confirmation): 400.
    BadRequest,
    /// The request names something outside what may be acted on: 403.
    Forbidden,
    /// The thing named does not exist: 404.
    NotFound,
    /// The repository's state does not allow it now (busy, stale preview, exists, in progress): 409.
    Conflict,
    /// Something failed while acting (git, the disk, the configuration): 500.
    Failed,
}

impl Error {
    /// How an HTTP layer should answer this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::BadName { .. }
            | Self::UrlRefused { .. }
            | Self::NotConfirmed { .. }
            | Self::PreviewRequired
            | Self::BadMessage { .. }
            | Self::NoUrl { .. } => ErrorClass::BadRequest,
            Self::OutsideRoot { .. } => ErrorClass::Forbidden,
            Self::NoTrashEntry { .. } => ErrorClass::NotFound,
            Self::NoFolder { .. }
            | Self::FolderExists { .. }
            | Self::NotARepository { .. }
            | Self::Busy { .. }
            | Self::PreviewStale { .. }
            | Self::NothingToDo { .. }
            | Self::InProgress { .. }
            | Self::NoUpstream { .. }
            | Self::NotFastForward { .. } => ErrorClass::Conflict,
            Self::Root { .. }
            | Self::NoIdentity { .. }
            | Self::Git { .. }
            | Self::Spawn { .. }
            | Self::GitFailed { .. }
            | Self::TimedOut { .. }
            | Self::Io { .. }
            | Self::TrashOnOtherFilesystem { .. }
            | Self::TrashInsideTarget { .. } => ErrorClass::Failed,
        }
    }

    /// Whether the action was refused before anything on disk was changed (as opposed to failing
    /// while it acted). An action log records the first as "refused", the second as "failed".
    pub fn is_refusal(&self) -> bool {
        !matches!(self.class(), ErrorClass::Failed)
    }

    /// What git printed, for the errors that carry it.
    pub fn output(&self) -> Option<&str> {
        match self {
            Self::GitFailed { output, .. } | Self::TimedOut { output, .. } => Some(output),
            _ => None,
        }
    }
}
