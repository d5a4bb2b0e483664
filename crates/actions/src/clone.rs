//! Clone: a missing repository from its checked URL into the root, by the `git` program (this
//! build's libgit2 has no https or ssh), into a hidden temporary folder first, so that a clone
//! that fails or is stopped at the deadline never leaves a half folder under the real name.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::git::{self, GitCommand};
use crate::outcome::{ActionKind, Outcome};
use crate::root::{RESERVED_PREFIX, Target};
use crate::url::CloneUrl;

/// How git is run for the network actions.
#[derive(Debug, Clone)]
pub(crate) struct GitRunner {
    pub(crate) program: PathBuf,
    pub(crate) timeout: Duration,
    pub(crate) protocols: String,
}

impl GitRunner {
    pub(crate) fn command<'a>(
        &'a self,
        target: &'a Target,
        cwd: &'a Path,
        operation: &'static str,
        args: Vec<std::ffi::OsString>,
    ) -> GitCommand<'a> {
        GitCommand {
            program: &self.program,
            cwd,
            ceiling: target.root(),
            args,
            protocols: self.protocols.clone(),
            timeout: self.timeout,
            operation,
        }
    }
}

/// Where a clone would come from and go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClonePreview {
    /// The URL (credentials redacted).
    pub url: String,
    /// The folder it would create inside the root.
    pub folder: String,
    /// Its full path.
    pub path: String,
    /// How long git may take before it is stopped, in seconds.
    pub timeout_seconds: u64,
}

/// What cloning would do. Reads only.
pub(crate) fn preview(target: &Target, url: &CloneUrl, runner: &GitRunner) -> Result<ClonePreview> {
    if target.exists() {
        return Err(Error::FolderExists { name: target.folder().to_owned() });
    }
    Ok(ClonePreview {
        url: url.redacted(),
        folder: target.folder().to_owned(),
        path: target.path().to_string_lossy().into_owned(),
        timeout_seconds: runner.timeout.as_secs(),
    })
}

static CLONES: AtomicU64 = AtomicU64::new(0);

/// Clones `url` into the target's folder.
pub(crate) fn run(target: &Target, url: &CloneUrl, runner: &GitRunner) -> Result<Outcome> {
    preview(target, url, runner)?;
    let temp_name = format!(
        "{RESERVED_PREFIX}clone-{}-{}",
        std::process::id(),
        CLONES.fetch_add(1, Ordering::Relaxed)
    );
    let temp = target.root().join(&temp_name);
    let args = vec![
        "clone".into(),
        "--no-recurse-submodules".into(),
        "--".into(),
        url.for_git().into(),
        temp.clone().into_os_string(),
    ];
    let result =
        git::run(&runner.command(target, target.root(), "clone", args)).and_then(|output| {
            crate::trash::rename_no_replace(&temp, target.path()).map_err(|cause| {
                if cause.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::FolderExists { name: target.folder().to_owned() }
                } else {
                    Error::Io {
                        operation: "cannot move the clone to",
                        path: target.path().to_owned(),
                        cause,
                    }
                }
            })?;
            Ok(output)
        });
    let output = match result {
        Ok(output) => output,
        Err(error) => {
            remove_own_temp(&temp);
            return Err(error);
        }
    };
    let head = git2::Repository::open(target.path())
        .ok()
        .and_then(|repo| repo.head().ok()?.target().map(|id| id.to_string()));
    Ok(Outcome {
        action: ActionKind::Clone,
        repo: target.name().to_owned(),
        summary: format!("cloned {} into {}", url.redacted(), target.folder()),
        changed: vec![target.folder().to_owned()],
        commit: head,
        trash_entry: None,
        output,
    })
}

/// Removes the temporary folder this clone made (and only a real folder of that name: never a
/// link someone put there).
fn remove_own_temp(temp: &Path) {
    if std::fs::symlink_metadata(temp).is_ok_and(|meta| meta.is_dir()) {
        let _ = std::fs::remove_dir_all(temp);
    }
}
