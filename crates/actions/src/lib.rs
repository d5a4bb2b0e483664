//! Remediation on the clones of a gitops audit: view a repository's changes, clone a missing one,
//! commit or discard changes, point `origin` at the expected URL, move a folder to the trash and
//! back, push and fast-forward. Every action has a preview that changes nothing.
//!
//! ```no_run
//! use gitops_actions::{Action, Actions, ActionsConfig, UrlPolicy};
//! # let report = gitops_report::Report::default();
//!
//! let actions = Actions::new(ActionsConfig::new("/srv/git", "/var/lib/gitops-live/trash"))?;
//! let repo = &report.repos[0];
//! let preview = actions.preview(repo, &Action::Discard { confirm: String::new(), fingerprint: None })?;
//! // ... the user reads the preview and types the repository's name ...
//! # let fingerprint = None;
//! let outcome = actions.run(repo, &Action::Discard { confirm: repo.name.clone(), fingerprint })?;
//! # Ok::<(), gitops_actions::Error>(())
//! ```
//!
//! # What keeps it safe
//!
//! - **Only folders inside the root.** A report row is turned into a [`Target`] by
//!   [`Root::resolve`]: its name and folder must each be one plain folder name (no `..`, no
//!   separator, no leading `-`, no NUL or newline) and the folder must resolve, symlinks
//!   followed, strictly inside the canonical root.
//! - **No shell, and git only where it must.** Local actions (changes, commit, discard, fix
//!   remote) use libgit2: nothing the repository's config names is ever run (no hooks, no
//!   `core.fsmonitor`, no filters or diff drivers), which matters because an "extra" folder can be
//!   anything someone dropped in the root. Network actions (clone, push, pull) run the `git`
//!   program, because this build's libgit2 has no https or ssh: an argument vector with `--`
//!   before every URL and path, URLs checked by the [`UrlPolicy`] first, `GIT_ALLOW_PROTOCOL`
//!   set to the same transports, `protocol.ext.allow=never`, hooks and fsmonitor off, no prompts
//!   (`GIT_TERMINAL_PROMPT=0`, empty `GIT_ASKPASS`, stdin closed, own process group), and a
//!   deadline after which git's whole process group is killed.
//! - **Nothing lost unseen.** A discard runs only with the fingerprint of the preview the user
//!   saw and their typing of the repository's name; if the repository changed in between, it is
//!   refused as stale. A delete is a rename into the trash, never a recursive removal; the trash
//!   is purged by age on the caller's schedule.
//! - **One action per repository.** A second action on a repository that has one running gets
//!   [`Error::Busy`] at once.
//!
//! Functions here block (git, the disk); an async caller runs them on a blocking thread.
#![warn(missing_docs)]

mod changes;
mod clone;
mod commit;
mod discard;
mod error;
mod git;
mod lock;
mod outcome;
mod record;
mod remote;
mod repo;
mod root;
mod sync;
mod trash;
mod url;

use std::path::PathBuf;
use std::time::Duration;

use gitops_report::Repo;
use jiff::Timestamp;

pub use changes::{ChangeKind, Changes, ChangesLimits, FileDiff};
pub use clone::ClonePreview;
pub use commit::{CommitPreview, Identity, check_commit_message};
pub use discard::{DiscardPreview, Fingerprint, Loss, LostPath};
pub use error::{Error, ErrorClass, Result};
pub use lock::{RepoGuard, RepoLocks};
pub use outcome::{Action, ActionKind, Outcome, Preview};
pub use record::{ActionRecord, RecordResult};
pub use remote::FixRemotePreview;
pub use repo::StatusEntry;
pub use root::{Root, Target, check_folder_name};
pub use sync::{CommitLine, SyncPreview};
pub use trash::{DeletePreview, RestorePreview, TrashEntry};
pub use url::{CloneUrl, UrlKind, UrlPolicy, check_clone_url};

/// How the actions are set up.
#[derive(Debug, Clone)]
pub struct ActionsConfig {
    /// The audit root: the folder whose direct subfolders are the clones.
    pub root: PathBuf,
    /// Where deleted folders go (`<state dir>/trash`, say). Created if absent. It must be on the
    /// root's filesystem (a delete is one rename); inside the root it must be a hidden folder.
    pub trash: PathBuf,
    /// Which URLs may be cloned from, set as `origin`, pushed to or pulled from.
    pub url_policy: UrlPolicy,
    /// How long a clone, push or pull may take before git is stopped. 10 minutes by default.
    pub network_timeout: Duration,
    /// The `git` program. `git` (found on `PATH`) by default.
    pub git_program: PathBuf,
    /// Who commits; `None` (the default) uses git's `user.name` and `user.email`.
    pub author: Option<Identity>,
    /// How much of a diff [`Actions::changes`] returns.
    pub changes_limits: ChangesLimits,
}

impl ActionsConfig {
    /// A config with the defaults: no local URLs, no plain http, a 10-minute network timeout,
    /// `git` from `PATH`, git's own identity, 1 MiB of diff.
    pub fn new(root: impl Into<PathBuf>, trash: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            trash: trash.into(),
            url_policy: UrlPolicy::default(),
            network_timeout: Duration::from_secs(600),
            git_program: PathBuf::from("git"),
            author: None,
            changes_limits: ChangesLimits::default(),
        }
    }
}

/// The actions on one audit root: its config, and the locks of the repositories being acted on.
/// Share one per root (`Arc<Actions>`); it is `Send + Sync`.
#[derive(Debug)]
pub struct Actions {
    root: Root,
    trash: trash::Trash,
    config: ActionsConfig,
    runner: clone::GitRunner,
    locks: RepoLocks,
}

impl Actions {
    /// Checks the root and the trash folder (creating the trash if needed).
    pub fn new(config: ActionsConfig) -> Result<Self> {
        let root = Root::new(&config.root)?;
        let trash = trash::Trash::open(&config.trash, &root)?;
        let runner = clone::GitRunner {
            program: config.git_program.clone(),
            timeout: config.network_timeout,
            protocols: config.url_policy.git_allow_protocol(),
        };
        Ok(Self { root, trash, config, runner, locks: RepoLocks::new() })
    }

    /// The canonical audit root.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The canonical trash folder.
    pub fn trash_path(&self) -> &std::path::Path {
        &self.trash.path
    }

    /// The locks, to see whether a repository is busy.
    pub fn locks(&self) -> &RepoLocks {
        &self.locks
    }

    /// `repo`'s status and working-tree diff against HEAD. Reads only; takes the repository's
    /// lock while it reads.
    pub fn changes(&self, repo: &Repo) -> Result<Changes> {
        let target = self.root.resolve(repo)?;
        let _guard = self.locks.try_lock(&target)?;
        changes::changes(&target, &self.config.changes_limits)
    }

    /// What `action` would do to `repo`. Changes nothing; takes the repository's lock while it reads.
    pub fn preview(&self, repo: &Repo, action: &Action) -> Result<Preview> {
        let target = self.root.resolve(repo)?;
        let _guard = self.locks.try_lock(&target)?;
        let policy = &self.config.url_policy;
        Ok(match action {
            Action::Clone => {
                let url = check_clone_url(clone_url(repo)?, policy)?;
                Preview::Clone(clone::preview(&target, &url, &self.runner)?)
            }
            Action::Commit { message } => {
                Preview::Commit(commit::preview(&target, message, self.config.author.as_ref())?)
            }
            Action::Discard { .. } => Preview::Discard(discard::preview(&target)?),
            Action::FixRemote => {
                let url = check_clone_url(expected_url(repo)?, policy)?;
                Preview::FixRemote(remote::preview(&target, &url)?)
            }
            Action::Delete { .. } => {
                Preview::Delete(self.trash.preview_delete(&target, Timestamp::now())?)
            }
            Action::Push => Preview::Push(sync::preview(&target, true, policy)?),
            Action::Pull => Preview::Pull(sync::preview(&target, false, policy)?),
        })
    }

    /// Does `action` to `repo`, holding the repository's lock throughout.
    pub fn run(&self, repo: &Repo, action: &Action) -> Result<Outcome> {
        let target = self.root.resolve(repo)?;
        let _guard = self.locks.try_lock(&target)?;
        let policy = &self.config.url_policy;
        match action {
            Action::Clone => {
                let url = check_clone_url(clone_url(repo)?, policy)?;
                clone::run(&target, &url, &self.runner)
            }
            Action::Commit { message } => {
                commit::run(&target, message, self.config.author.as_ref())
            }
            Action::Discard { confirm, fingerprint } => {
                confirmed(&target, confirm)?;
                let fingerprint = fingerprint.as_ref().ok_or(Error::PreviewRequired)?;
                discard::run(&target, fingerprint)
            }
            Action::FixRemote => {
                let url = check_clone_url(expected_url(repo)?, policy)?;
                remote::run(&target, &url)
            }
            Action::Delete { confirm } => {
                confirmed(&target, confirm)?;
                self.trash.delete(&target, Timestamp::now())
            }
            Action::Push => sync::run(&target, true, policy, &self.runner),
            Action::Pull => sync::run(&target, false, policy, &self.runner),
        }
    }

    /// The trash's entries, oldest first.
    pub fn trash_entries(&self) -> Result<Vec<TrashEntry>> {
        self.trash.list()
    }

    /// What restoring the trash entry `entry` would do.
    pub fn preview_restore(&self, entry: &str) -> Result<Preview> {
        let (preview, target) = self.trash.preview_restore(&self.root, entry)?;
        let _guard = self.locks.try_lock(&target)?;
        Ok(Preview::Restore(preview))
    }

    /// Moves the trash entry `entry` back to its folder in the root (refused if that folder exists).
    pub fn restore(&self, entry: &str) -> Result<Outcome> {
        let (_, target) = self.trash.preview_restore(&self.root, entry)?;
        let _guard = self.locks.try_lock(&target)?;
        // Checked again under the lock: a clone or restore may have taken the folder meanwhile.
        let (preview, target) = self.trash.preview_restore(&self.root, entry)?;
        self.trash.restore(&preview, &target)
    }

    /// Removes the trash entries deleted more than `older_than` before `now`, skipping any whose
    /// folder has an action running; returns the entries removed.
    pub fn purge_trash(&self, older_than: Duration, now: Timestamp) -> Result<Vec<TrashEntry>> {
        // The key a restore of the entry would take: the folder it would come back to.
        self.trash.purge(older_than, now, |folder| {
            self.locks.try_lock_path(folder, &self.root.path().join(folder)).ok()
        })
    }
}

/// Refuses unless the user typed the repository's name.
fn confirmed(target: &Target, confirm: &str) -> Result<()> {
    if confirm == target.name() {
        Ok(())
    } else {
        Err(Error::NotConfirmed { name: target.name().to_owned() })
    }
}

fn clone_url(repo: &Repo) -> Result<&str> {
    repo.clone_url
        .as_deref()
        .or(repo.expected_url.as_deref())
        .filter(|url| !url.is_empty())
        .ok_or_else(|| Error::NoUrl { name: repo.name.clone() })
}

fn expected_url(repo: &Repo) -> Result<&str> {
    repo.expected_url
        .as_deref()
        .or(repo.clone_url.as_deref())
        .filter(|url| !url.is_empty())
        .ok_or_else(|| Error::NoUrl { name: repo.name.clone() })
}

#[cfg(test)]
mod tests {
    fn shared_between_threads<T: Send + Sync>() {}

    #[test]
    fn actions_can_be_shared_between_request_handlers() {
        shared_between_threads::<super::Actions>();
    }
}
