//! A report's top-level fields as [`Meta`], and equality of report states (order-free repositories).

use std::collections::HashMap;

use gitops_report::{Repo, Report};

use crate::{Meta, Result};

/// Every top-level field of `report` except `repos`, as written on the wire (`health-metrics-update` data).
pub fn meta_of(report: &Report) -> Meta {
    let mut meta = match serde_json::to_value(report_without_repos(report)) {
        Ok(serde_json::Value::Object(meta)) => Some(meta),
        _ => None,
    }
    .expect(
        "a report's fields are strings, numbers and JSON values, so it serialises to an object",
    );
    meta.remove("repos");
    meta
}

/// The top-level fields that differ from `old` to `new`: each with its new value, and `null` for
/// a field `new` no longer has. This is `health-metrics-update` data (a shallow JSON Merge Patch,
/// RFC 7396, of the top level: each field is replaced whole).
pub fn meta_delta(old: &Meta, new: &Meta) -> Meta {
    let mut delta = Meta::new();
    for (key, value) in new {
        if old.get(key) != Some(value) {
            delta.insert(key.clone(), value.clone());
        }
    }
    for key in old.keys() {
        if !new.contains_key(key) {
            delta.insert(key.clone(), serde_json::Value::Null);
        }
    }
    delta
}

/// `base` with `delta` applied: each field of `delta` replaces the one in `base`, `null` removes it.
pub(crate) fn merge_meta(mut base: Meta, delta: &Meta) -> Meta {
    for (key, value) in delta {
        if value.is_null() {
            base.remove(key);
        } else {
            base.insert(key.clone(), value.clone());
        }
    }
    base
}

/// A copy of `report`'s top-level fields, with no repositories (which would be costly to copy).
fn report_without_repos(report: &Report) -> Report {
    let Report {
        timestamp,
        health_status,
        summary,
        repos: _,
        mitigation_actions,
        local_git_root,
        local_scan_active,
        github_user,
        extra,
    } = report;
    Report {
        timestamp: timestamp.clone(),
        health_status: health_status.clone(),
        summary: summary.clone(),
        repos: Vec::new(),
        mitigation_actions: mitigation_actions.clone(),
        local_git_root: local_git_root.clone(),
        local_scan_active: *local_scan_active,
        github_user: github_user.clone(),
        extra: extra.clone(),
    }
}

/// Whether two reports have the same top-level fields, `repos` aside.
pub(crate) fn same_meta(a: &Report, b: &Report) -> bool {
    // Destructuring names every field, so a field added to `Report` fails to compile here
    // instead of being silently left out of the comparison.
    let Report {
        timestamp,
        health_status,
        summary,
        repos: _,
        mitigation_actions,
        local_git_root,
        local_scan_active,
        github_user,
        extra,
    } = a;
    *timestamp == b.timestamp
        && *health_status == b.health_status
        && *summary == b.summary
        && *mitigation_actions == b.mitigation_actions
        && *local_git_root == b.local_git_root
        && *local_scan_active == b.local_scan_active
        && *github_user == b.github_user
        && same_extra(extra, &b.extra)
}

/// Unknown top-level fields compared as a JSON Merge Patch sees them: a field set to `null` is
/// the same as an absent one.
fn same_extra(a: &Meta, b: &Meta) -> bool {
    let present = |m: &Meta| m.iter().filter(|(_, v)| !v.is_null()).count();
    present(a) == present(b)
        && a.iter().filter(|(_, v)| !v.is_null()).all(|(k, v)| b.get(k) == Some(v))
}

/// Replaces `report`'s top-level fields with `meta`, keeping its repositories.
///
/// A `repos` key in `meta` is ignored: repositories only change through [`crate::RepoChange`]s.
pub(crate) fn parse_meta(meta: &Meta) -> Result<Report> {
    let mut fields = meta.clone();
    // The report model requires a `repos` array; an empty one stands in for the kept repositories.
    fields.insert("repos".to_owned(), serde_json::Value::Array(Vec::new()));
    serde_json::from_value(serde_json::Value::Object(fields)).map_err(crate::Error::InvalidMeta)
}

/// Moves `meta_source`'s top-level fields into `report`, keeping `report`'s repositories.
pub(crate) fn replace_meta(report: &mut Report, meta_source: Report) {
    let repos = std::mem::take(&mut report.repos);
    *report = Report { repos, ..meta_source };
}

/// Whether two reports hold the same state: equal top-level fields, and the same repositories
/// under the same `(name, dup)` keys, in any order.
///
/// The order of repositories with different names does not matter; the relative order of
/// repositories that share a name does, because it decides their `dup`.
pub fn same_state(a: &Report, b: &Report) -> bool {
    a.repos.len() == b.repos.len() && same_meta(a, b) && by_name(&a.repos) == by_name(&b.repos)
}

/// Repositories grouped by name, each group in report order.
fn by_name(repos: &[Repo]) -> HashMap<&str, Vec<&Repo>> {
    let mut groups: HashMap<&str, Vec<&Repo>> = HashMap::with_capacity(repos.len());
    for repo in repos {
        groups.entry(repo.name.as_str()).or_default().push(repo);
    }
    groups
}

#[cfg(test)]
mod tests {
    use gitops_report::{Health, Status};

    use super::*;

    fn repo(name: &str, status: Status) -> Repo {
        Repo { name: name.to_owned(), status, ..Repo::default() }
    }

    #[test]
    fn meta_has_every_top_level_field_but_repos() {
        let mut report = Report {
            health_status: Some(Health::Red),
            github_user: Some("alice".to_owned()),
            repos: vec![repo("halo", Status::Missing)],
            ..Report::default()
        };
        report.extra.insert("producer".to_owned(), "audit.sh".into());
        let meta = meta_of(&report);
        assert_eq!(
            serde_json::Value::Object(meta),
            serde_json::json!({"health_status": "red", "github_user": "alice", "producer": "audit.sh"})
        );
    }

    #[test]
    fn meta_round_trips_through_parse_meta() {
        let mut report = Report { local_scan_active: Some(false), ..Report::default() };
        report.mitigation_actions.insert("clone_missing".to_owned(), "Clone them".to_owned());
        let parsed = parse_meta(&meta_of(&report)).unwrap();
        assert!(same_meta(&parsed, &report));
    }

    #[test]
    fn same_state_ignores_order_across_names_but_not_within_a_name() {
        let a = Report {
            repos: vec![
                repo("x", Status::Clean),
                repo("y", Status::Dirty),
                repo("x", Status::Missing),
            ],
            ..Report::default()
        };
        let mut reordered = a.clone();
        reordered.repos.swap(0, 1);
        assert!(same_state(&a, &reordered));
        let mut swapped_within_name = a.clone();
        swapped_within_name.repos.swap(0, 2);
        assert!(!same_state(&a, &swapped_within_name));
    }

    #[test]
    fn same_state_sees_meta_and_length() {
        let a = Report { repos: vec![repo("x", Status::Clean)], ..Report::default() };
        let mut other_meta = a.clone();
        other_meta.github_user = Some("bob".to_owned());
        assert!(!same_state(&a, &other_meta));
        let mut longer = a.clone();
        longer.repos.push(repo("x", Status::Clean));
        assert!(!same_state(&a, &longer));
    }
}
