//! Turning a folder's facts and its expected entry into one report row: status, links, mitigation
//! and the extra fields old readers ignore.

use std::path::Path;

use gitops_report::{FileStatus, Repo, Status};
use serde_json::{Map, Value, json};

use crate::expected::ExpectedRepo;
use crate::inspect::{GitFacts, Local};
use crate::remote_url::{parse_remote_url, redact_credentials};

/// The mitigation keys and their texts, as written to `mitigation_actions`.
pub(crate) const MITIGATION_ACTIONS: [(&str, &str); 5] = [
    (CLONE_MISSING, "Clone missing repositories from GitHub"),
    (REVIEW_OR_DELETE, "Review extra local folders: push them somewhere or delete them"),
    (COMMIT_OR_DISCARD, "Commit or discard uncommitted changes"),
    (FIX_REMOTE_OR_RENAME, "Fix the origin URL or rename the local folder"),
    (REPAIR_OR_RECLONE, "Make the repository readable again (see its error) or clone it afresh"),
];
const CLONE_MISSING: &str = "clone_missing";
const REVIEW_OR_DELETE: &str = "review_or_delete";
const COMMIT_OR_DISCARD: &str = "commit_or_discard";
const FIX_REMOTE_OR_RENAME: &str = "fix_remote_or_rename";
const REPAIR_OR_RECLONE: &str = "repair_or_reclone";

/// The row for an expected repository with no local folder.
pub(crate) fn missing(expected: &ExpectedRepo) -> Repo {
    Repo {
        name: expected.name.clone(),
        status: Status::Missing,
        clone_url: expected.clone_url.clone(),
        dashboard_link: Some(dashboard_link(&expected.name, "clone")),
        mitigation: Some(CLONE_MISSING.to_owned()),
        ..Repo::default()
    }
}

/// The row for a local folder, expected or not. `now_seconds` dates `last_commit_age_days`.
pub(crate) fn local(
    name: &str,
    path: &Path,
    local: &Local,
    expected: Option<&ExpectedRepo>,
    now_seconds: i64,
) -> Repo {
    let mut repo = Repo {
        name: name.to_owned(),
        local_path: Some(path.to_string_lossy().into_owned()),
        clone_url: expected.and_then(|expected| expected.clone_url.clone()),
        ..Repo::default()
    };
    let (status, mitigation) = match (local, expected) {
        (Local::Unreadable(error) | Local::Broken(error), _) => {
            repo.extra.insert("error".into(), Value::String(error.clone()));
            // An unreadable clone of an expected repository cannot be called clean; `dirty` keeps it
            // yellow and in view without inventing a status old readers do not know.
            let status = if expected.is_some() { Status::Dirty } else { Status::Extra };
            repo.remote_url = expected.is_none().then(String::new);
            (status, REPAIR_OR_RECLONE)
        }
        (Local::NotGit, _) => {
            repo.extra.insert("error".into(), Value::String("not a git repository".into()));
            repo.remote_url = Some(String::new());
            repo.expected_url = repo.clone_url.clone();
            (Status::Extra, REVIEW_OR_DELETE)
        }
        (Local::Git(facts), None) => {
            repo.remote_url =
                Some(facts.origin_url.as_deref().map(redact_credentials).unwrap_or_default());
            add_git_extras(&mut repo.extra, facts, now_seconds);
            repo.file_status = file_status(facts, &mut repo.extra);
            (Status::Extra, REVIEW_OR_DELETE)
        }
        (Local::Git(facts), Some(expected)) => {
            repo.remote_url =
                Some(facts.origin_url.as_deref().map(redact_credentials).unwrap_or_default());
            add_git_extras(&mut repo.extra, facts, now_seconds);
            repo.file_status = file_status(facts, &mut repo.extra);
            let origin_matches = facts
                .origin_url
                .as_deref()
                .and_then(parse_remote_url)
                .is_some_and(|actual| expected.id().same_repo(&actual));
            if !origin_matches {
                repo.expected_url = expected.clone_url.clone();
                (Status::Mismatched, FIX_REMOTE_OR_RENAME)
            } else if facts.changes.any() || facts.error.is_some() {
                (
                    Status::Dirty,
                    if facts.error.is_some() { REPAIR_OR_RECLONE } else { COMMIT_OR_DISCARD },
                )
            } else {
                (Status::Clean, "")
            }
        }
    };
    let action = match status {
        Status::Missing => "clone",
        Status::Dirty if mitigation == REPAIR_OR_RECLONE => "review",
        Status::Dirty => "commit",
        Status::Mismatched => "fix_remote",
        Status::Clean => "view",
        Status::Extra | Status::Other(_) => "review",
    };
    repo.dashboard_link = Some(dashboard_link(name, action));
    repo.mitigation = (!mitigation.is_empty()).then(|| mitigation.to_owned());
    repo.status = status;
    repo
}

fn file_status(facts: &GitFacts, extra: &mut Map<String, Value>) -> Option<FileStatus> {
    if facts.bare {
        return Some(FileStatus::Unknown);
    }
    let missing = &facts.missing_files;
    let status = if missing.is_empty() {
        FileStatus::Complete
    } else if missing.iter().all(|name| name.eq_ignore_ascii_case("README")) {
        FileStatus::MissingReadme
    } else {
        FileStatus::MissingFiles
    };
    if !missing.is_empty() {
        extra.insert("missing_files".into(), json!(missing));
    }
    Some(status)
}

fn add_git_extras(extra: &mut Map<String, Value>, facts: &GitFacts, now_seconds: i64) {
    let (ahead, behind) = facts.ahead_behind.unzip();
    let last_commit =
        facts.last_commit_seconds.and_then(|seconds| jiff::Timestamp::from_second(seconds).ok());
    let age_days = facts.last_commit_seconds.map(|seconds| (now_seconds - seconds).max(0) / 86_400);
    let fields = [
        ("branch", json!(facts.branch)),
        ("detached", json!(facts.detached)),
        ("upstream", json!(facts.upstream)),
        ("ahead", json!(ahead)),
        ("behind", json!(behind)),
        ("unpushed_commits", json!(facts.unpushed_commits)),
        ("stash_count", json!(facts.stash_count)),
        ("last_commit", json!(last_commit.map(|at| at.to_string()))),
        ("last_commit_age_days", json!(age_days)),
        ("staged", json!(facts.changes.staged)),
        ("unstaged", json!(facts.changes.unstaged)),
        ("untracked", json!(facts.changes.untracked)),
        ("conflicted", json!(facts.changes.conflicted)),
    ];
    extra.extend(fields.into_iter().map(|(key, value)| (key.to_owned(), value)));
    if facts.bare {
        extra.insert("bare".into(), Value::Bool(true));
    }
    if let Some(error) = &facts.error {
        extra.insert("error".into(), Value::String(error.clone()));
    }
}

/// `/audit/<name>?action=<action>`, with the name percent-encoded so any folder name makes a valid link.
pub(crate) fn dashboard_link(name: &str, action: &str) -> String {
    let mut link = String::from("/audit/");
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            link.push(char::from(byte));
        } else {
            link.push_str(&format!("%{byte:02X}"));
        }
    }
    link.push_str("?action=");
    link.push_str(action);
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_links_keep_plain_names_and_encode_the_rest() {
        assert_eq!(dashboard_link("halo", "clone"), "/audit/halo?action=clone");
        assert_eq!(dashboard_link("my.site_x-1", "view"), "/audit/my.site_x-1?action=view");
        assert_eq!(dashboard_link("a b\"c/é", "review"), "/audit/a%20b%22c%2F%C3%A9?action=review");
    }
}
