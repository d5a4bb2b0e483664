//! Fix remote: point `origin` at the URL the expected list gives, through libgit2.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::outcome::{ActionKind, Outcome};
use crate::repo::{self, git_error};
use crate::root::Target;
use crate::url::{CloneUrl, redact_url};

/// The remote that is fixed.
pub(crate) const ORIGIN: &str = "origin";

/// `origin`'s URL before and after (credentials redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixRemotePreview {
    /// The remote's name (`origin`).
    pub remote: String,
    /// Its URL now; `None` when there is no `origin` (it will be created).
    pub old: Option<String>,
    /// The URL it will have.
    pub new: String,
    /// A separate push URL that stays as it is, if the remote has one.
    pub push_url: Option<String>,
}

fn current(target: &Target) -> Result<(git2::Repository, Option<String>, Option<String>)> {
    let repo = repo::open(target, false)?;
    let (old, push_url) = match repo.find_remote(ORIGIN) {
        Ok(remote) => (
            Some(String::from_utf8_lossy(remote.url_bytes()).into_owned()),
            remote.pushurl_bytes().map(|url| String::from_utf8_lossy(url).into_owned()),
        ),
        Err(error) if error.code() == git2::ErrorCode::NotFound => (None, None),
        Err(cause) => {
            return Err(Error::Git {
                name: target.name().to_owned(),
                operation: "read origin",
                cause,
            });
        }
    };
    Ok((repo, old, push_url))
}

/// What fixing `origin` would change. Reads only.
pub(crate) fn preview(target: &Target, url: &CloneUrl) -> Result<FixRemotePreview> {
    let (_, old, push_url) = current(target)?;
    Ok(FixRemotePreview {
        remote: ORIGIN.to_owned(),
        old: old.as_deref().map(redact_url),
        new: url.redacted(),
        push_url: push_url.as_deref().map(redact_url),
    })
}

/// Sets `origin` to `url`, creating it when absent.
pub(crate) fn run(target: &Target, url: &CloneUrl) -> Result<Outcome> {
    let (repo, old, _) = current(target)?;
    if old.as_deref() == Some(url.as_str()) {
        return Err(Error::NothingToDo { reason: format!("origin is already {}", url.redacted()) });
    }
    match &old {
        Some(_) => repo.remote_set_url(ORIGIN, url.as_str()).map(drop),
        None => repo.remote(ORIGIN, url.as_str()).map(drop),
    }
    .map_err(git_error(target, "set origin"))?;
    let old_text = old.as_deref().map_or_else(|| "(none)".to_owned(), redact_url);
    let change = format!("origin: {old_text} → {}", url.redacted());
    Ok(Outcome {
        action: ActionKind::FixRemote,
        repo: target.name().to_owned(),
        summary: change.clone(),
        changed: vec![change],
        commit: None,
        trash_entry: None,
        output: String::new(),
    })
}
