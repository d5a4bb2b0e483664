//! The report's own metrics, added to `GET /metrics`: the source's freshness, and one series per
//! repository (status, ahead, behind, stashes, last commit age).
//!
//! Label cardinality is bounded: the first [`MAX_REPO_SERIES`] repositories by name get series
//! (5 status series and up to 4 value series each); the rest are counted in
//! `gitops_repo_series_omitted`. Repository names are escaped as the text format requires.

use std::fmt::Write as _;

use gitops_protocol::ReportSource;
use gitops_report::{Report, Status};

/// The most repositories with series of their own.
pub(crate) const MAX_REPO_SERIES: usize = 2_000;

/// The statuses every repository has a 0/1 series for.
const STATUSES: [Status; 5] =
    [Status::Missing, Status::Extra, Status::Dirty, Status::Mismatched, Status::Clean];

/// The per-repository numbers the auditor writes (as report fields), and their metric names.
const VALUES: [(&str, &str, &str); 4] = [
    ("ahead", "gitops_repo_ahead_commits", "Commits on the local branch not on its upstream."),
    ("behind", "gitops_repo_behind_commits", "Commits on the upstream not on the local branch."),
    ("stash_count", "gitops_repo_stashes", "Stash entries."),
    ("last_commit_age_days", "gitops_repo_last_commit_age_days", "Days since the last commit."),
];

/// Appends the source's freshness: seconds since the last report, and whether it is stale.
pub(crate) fn render_source(out: &mut String, source: &ReportSource, since_last_report: u64) {
    let _ = writeln!(
        out,
        "# HELP gitops_report_age_seconds Seconds since the source last produced a report (or since start).\n\
         # TYPE gitops_report_age_seconds gauge\ngitops_report_age_seconds {since_last_report}"
    );
    let _ = writeln!(
        out,
        "# HELP gitops_report_stale 1 while no report has arrived for longer than expected (--expect-report-every).\n\
         # TYPE gitops_report_stale gauge\ngitops_report_stale {}",
        u8::from(source.stale.is_some())
    );
}

/// Appends the per-repository series of `report`.
pub(crate) fn render_repos(out: &mut String, report: &Report, max: usize) {
    let mut repos: Vec<_> = report.repos.iter().collect();
    repos.sort_by(|a, b| a.name.cmp(&b.name));
    let omitted = repos.len().saturating_sub(max);
    repos.truncate(max);
    let _ = writeln!(
        out,
        "# HELP gitops_repo_status 1 for the repository's current status, 0 for the others.\n# TYPE gitops_repo_status gauge"
    );
    for repo in &repos {
        let name = escape(&repo.name);
        for status in &STATUSES {
            let value = u8::from(repo.status == *status);
            let _ =
                writeln!(out, "gitops_repo_status{{repo=\"{name}\",status=\"{status}\"}} {value}");
        }
        if !repo.status.is_known() {
            let status = escape(&repo.status.to_string());
            let _ = writeln!(out, "gitops_repo_status{{repo=\"{name}\",status=\"{status}\"}} 1");
        }
    }
    for (field, metric, help) in VALUES {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} gauge");
        for repo in &repos {
            if let Some(value) = repo.extra.get(field).and_then(serde_json::Value::as_f64) {
                let _ = writeln!(out, "{metric}{{repo=\"{}\"}} {value}", escape(&repo.name));
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP gitops_repo_series_omitted Repositories without series of their own (past the first {max} by name).\n\
         # TYPE gitops_repo_series_omitted gauge\ngitops_repo_series_omitted {omitted}"
    );
}

/// A label value as the text format writes it: `\`, `"` and newline escaped.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use gitops_report::Repo;
    use serde_json::json;

    use super::*;

    fn repo(name: &str, status: Status) -> Repo {
        Repo { name: name.into(), status, ..Repo::default() }
    }

    #[test]
    fn every_repository_has_one_status_set_and_its_numbers() {
        let mut halo = repo("halo", Status::Dirty);
        halo.extra.insert("ahead".into(), json!(2));
        halo.extra.insert("behind".into(), json!(0));
        halo.extra.insert("stash_count".into(), json!(1));
        halo.extra.insert("last_commit_age_days".into(), json!(12));
        let report =
            Report { repos: vec![halo, repo("a\"b\\c\nd", Status::Missing)], ..Report::default() };
        let mut out = String::new();
        render_repos(&mut out, &report, 10);
        assert!(out.contains("gitops_repo_status{repo=\"halo\",status=\"dirty\"} 1\n"), "{out}");
        assert!(out.contains("gitops_repo_status{repo=\"halo\",status=\"clean\"} 0\n"), "{out}");
        assert!(out.contains("gitops_repo_ahead_commits{repo=\"halo\"} 2\n"), "{out}");
        assert!(out.contains("gitops_repo_stashes{repo=\"halo\"} 1\n"), "{out}");
        assert!(out.contains("gitops_repo_last_commit_age_days{repo=\"halo\"} 12\n"), "{out}");
        assert!(
            out.contains("gitops_repo_status{repo=\"a\\\"b\\\\c\\nd\",status=\"missing\"} 1\n"),
            "escaped: {out}"
        );
        assert!(!out.contains("gitops_repo_ahead_commits{repo=\"a"), "no value, no series");
        assert_eq!(out.matches("gitops_repo_status{").count(), 10, "5 per repository");
        assert!(out.contains("gitops_repo_series_omitted 0\n"));
    }

    #[test]
    fn series_are_bounded_and_the_rest_counted() {
        let report = Report {
            repos: (0..50).map(|i| repo(&format!("r{i:02}"), Status::Clean)).collect(),
            ..Report::default()
        };
        let mut out = String::new();
        render_repos(&mut out, &report, 20);
        assert_eq!(out.matches("gitops_repo_status{").count(), 100);
        assert!(out.contains("repo=\"r19\"") && !out.contains("repo=\"r20\""), "the first by name");
        assert!(out.contains("gitops_repo_series_omitted 30\n"));
    }
}
