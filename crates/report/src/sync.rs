//! Whether a clone agrees with its remote: work that exists only on this disk, or commits it lacks.
//!
//! In GitOps the remote is the truth, so a `clean` clone with a commit that was never pushed still
//! needs attention. The five statuses old readers know stay as they are; these are read from the
//! extra fields the auditor writes (`unpushed_commits`, `ahead`, `behind`, `detached`, `upstream`,
//! `stash_count`), and a report without them simply has no sync issues.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::model::{Repo, Status};

/// One way a clone is out of step with its remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SyncIssue {
    /// Commits on the checked-out branch that no remote has: lost if the disk is.
    Unpushed {
        /// How many.
        commits: u64,
    },
    /// Commits on the upstream the checked-out branch lacks: the clone is out of date.
    Behind {
        /// How many.
        commits: u64,
    },
    /// HEAD is on no branch, so new commits would belong to none.
    Detached,
    /// The checked-out branch tracks no remote branch: nothing says where it is pushed.
    NoUpstream,
    /// Stashed changes: work that exists only on this disk.
    Stashed {
        /// How many stash entries.
        entries: u64,
    },
}

impl SyncIssue {
    /// A stable kebab-case name for filters and scripts: `unpushed`, `behind`, `detached`,
    /// `no-upstream` or `stashed`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Unpushed { .. } => "unpushed",
            Self::Behind { .. } => "behind",
            Self::Detached => "detached",
            Self::NoUpstream => "no-upstream",
            Self::Stashed { .. } => "stashed",
        }
    }
}

impl fmt::Display for SyncIssue {
    /// For people: `2 unpushed commits`, `1 behind`, `detached HEAD`, `no upstream`, `1 stash`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        match *self {
            Self::Unpushed { commits } => {
                write!(f, "{commits} unpushed commit{}", plural(commits))
            }
            Self::Behind { commits } => write!(f, "{commits} behind"),
            Self::Detached => f.write_str("detached HEAD"),
            Self::NoUpstream => f.write_str("no upstream"),
            Self::Stashed { entries } => {
                write!(f, "{entries} stash{}", if entries == 1 { "" } else { "es" })
            }
        }
    }
}

impl Repo {
    /// How this clone is out of step with its remote, in a fixed order (unpushed, behind,
    /// detached, no upstream, stashed); empty when it is in step or when the report does not say.
    ///
    /// Read from the auditor's extra fields: `unpushed_commits` (or `ahead`, whichever is
    /// larger), `behind`, `detached: true`, `upstream: null` (only when the field is written, on
    /// a branch, in a non-bare clone) and `stash_count`. A `missing` repository has no clone and
    /// so no issues; fields of the wrong type are ignored.
    ///
    /// ```
    /// use gitops_report::{Repo, SyncIssue};
    /// let repo: Repo = serde_json::from_str(
    ///     r#"{"name": "halo", "status": "clean", "ahead": 2, "behind": 0, "upstream": "origin/main"}"#,
    /// )?;
    /// assert_eq!(repo.sync_issues(), [SyncIssue::Unpushed { commits: 2 }]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn sync_issues(&self) -> Vec<SyncIssue> {
        let mut issues = Vec::new();
        if self.status == Status::Missing {
            return issues;
        }
        let count = |key: &str| self.extra.get(key).and_then(Value::as_u64).unwrap_or(0);
        let flag = |key: &str| self.extra.get(key).and_then(Value::as_bool).unwrap_or(false);
        let unpushed = count("unpushed_commits").max(count("ahead"));
        if unpushed > 0 {
            issues.push(SyncIssue::Unpushed { commits: unpushed });
        }
        let behind = count("behind");
        if behind > 0 {
            issues.push(SyncIssue::Behind { commits: behind });
        }
        let detached = flag("detached");
        if detached {
            issues.push(SyncIssue::Detached);
        }
        let no_upstream = match self.extra.get("upstream") {
            Some(Value::Null) => true,
            Some(Value::String(upstream)) => upstream.is_empty(),
            _ => false,
        };
        if no_upstream && !detached && !flag("bare") {
            issues.push(SyncIssue::NoUpstream);
        }
        let stashes = count("stash_count");
        if stashes > 0 {
            issues.push(SyncIssue::Stashed { entries: stashes });
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn repo(status: &str, extra: Value) -> Repo {
        let Value::Object(extra) = extra else { panic!("an object") };
        Repo { name: "r".into(), status: Status::from_text(status), extra, ..Repo::default() }
    }

    #[test]
    fn an_in_step_clone_or_a_report_without_sync_fields_has_no_issues() {
        let synced = json!({"branch": "main", "upstream": "origin/main", "ahead": 0, "behind": 0,
            "unpushed_commits": 0, "detached": false, "stash_count": 0});
        assert!(repo("clean", synced).sync_issues().is_empty());
        assert!(repo("clean", json!({})).sync_issues().is_empty());
        assert!(repo("dirty", json!({"branch": "main"})).sync_issues().is_empty());
    }

    #[test]
    fn each_issue_is_read_from_its_field_in_a_fixed_order() {
        let all = repo(
            "clean",
            json!({"stash_count": 2, "upstream": null, "behind": 3, "ahead": 1,
                "unpushed_commits": 4, "detached": false}),
        );
        assert_eq!(
            all.sync_issues(),
            [
                SyncIssue::Unpushed { commits: 4 },
                SyncIssue::Behind { commits: 3 },
                SyncIssue::NoUpstream,
                SyncIssue::Stashed { entries: 2 },
            ]
        );
        // `ahead` counts when `unpushed_commits` is absent or smaller.
        assert_eq!(
            repo("dirty", json!({"ahead": 2, "upstream": "origin/main"})).sync_issues(),
            [SyncIssue::Unpushed { commits: 2 }]
        );
    }

    #[test]
    fn detached_and_bare_clones_are_not_also_without_upstream() {
        let detached = repo("clean", json!({"detached": true, "upstream": null}));
        assert_eq!(detached.sync_issues(), [SyncIssue::Detached]);
        let bare = repo("clean", json!({"bare": true, "upstream": null}));
        assert!(bare.sync_issues().is_empty());
        let extra = repo("extra", json!({"upstream": null, "unpushed_commits": 3}));
        assert_eq!(
            extra.sync_issues(),
            [SyncIssue::Unpushed { commits: 3 }, SyncIssue::NoUpstream]
        );
    }

    #[test]
    fn missing_repositories_and_malformed_fields_have_no_issues() {
        let missing = repo("missing", json!({"upstream": null, "ahead": 5}));
        assert!(missing.sync_issues().is_empty());
        let malformed = repo(
            "clean",
            json!({"ahead": "2", "behind": -1, "detached": "yes", "stash_count": 1.5}),
        );
        assert!(malformed.sync_issues().is_empty());
    }

    #[test]
    fn issues_read_well_and_serialise_with_a_kind() {
        let texts: Vec<String> = [
            SyncIssue::Unpushed { commits: 1 },
            SyncIssue::Unpushed { commits: 2 },
            SyncIssue::Behind { commits: 1 },
            SyncIssue::Detached,
            SyncIssue::NoUpstream,
            SyncIssue::Stashed { entries: 1 },
            SyncIssue::Stashed { entries: 3 },
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            texts,
            [
                "1 unpushed commit",
                "2 unpushed commits",
                "1 behind",
                "detached HEAD",
                "no upstream",
                "1 stash",
                "3 stashes"
            ]
        );
        assert_eq!(
            serde_json::to_value(SyncIssue::Unpushed { commits: 2 }).unwrap(),
            json!({"kind": "unpushed", "commits": 2})
        );
        assert_eq!(
            serde_json::to_value(SyncIssue::NoUpstream).unwrap(),
            json!({"kind": "no-upstream"})
        );
        assert_eq!(SyncIssue::NoUpstream.kind(), "no-upstream");
    }
}
