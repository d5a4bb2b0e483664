//! Checking a parsed report: what looks wrong, as findings rather than failures.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::de::Found;
use crate::error::RepoRef;
use crate::model::{FileStatus, Health, Repo, Report, Shape, Status, Summary};

/// How much a finding matters. Findings never stop a report from being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing is wrong with what the dashboard shows.
    Info,
    /// The report contradicts itself or holds data the dashboard cannot show as intended.
    Warning,
}

impl Severity {
    /// `info` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about. The kebab-case text ([`FindingCode::as_str`]) is stable: scripts may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FindingCode {
    /// A `summary` count disagrees with the repository list.
    SummaryMismatch,
    /// `summary` is not an object, or one of its counts is not a non-negative integer.
    SummaryMalformed,
    /// `health_status` disagrees with the health rule applied to the repositories.
    HealthMismatch,
    /// `health_status` is not `green`, `yellow` or `red`.
    HealthUnknown,
    /// `timestamp` is neither RFC 3339 nor the hyphenated `2026-02-11T03-00-00Z` form.
    TimestampUnparseable,
    /// A known field has the wrong type; it is kept and passed on as written.
    MalformedField,
    /// Several repositories share a name.
    DuplicateName,
    /// A repository's name is the empty string.
    EmptyName,
    /// A repository's status is not one this version knows; it is shown as written.
    UnknownStatus,
    /// A repository's `file_status` is not one this version knows.
    UnknownFileStatus,
    /// A repository's `mitigation` has no entry in `mitigation_actions`.
    UnknownMitigation,
    /// Parsing skipped a UTF-8 byte-order mark.
    BomSkipped,
    /// Parsing took repositories' names from their legacy `path`.
    NameFromPath,
    /// Parsing derived statuses from the legacy `uncommittedChanges`.
    StatusDerived,
    /// Repositories had neither `status` nor `uncommittedChanges`; parsing assumed `clean`.
    StatusAssumed,
    /// A repository's fields contradict its status (a `missing` one with a `local_path`, a
    /// `clean` one whose origin is not the expected repository, a mitigation for another
    /// status): no auditor produces that, so the producer has a bug.
    Contradiction,
}

impl FindingCode {
    /// The stable kebab-case code, e.g. `summary-mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SummaryMismatch => "summary-mismatch",
            Self::SummaryMalformed => "summary-malformed",
            Self::HealthMismatch => "health-mismatch",
            Self::HealthUnknown => "health-unknown",
            Self::TimestampUnparseable => "timestamp-unparseable",
            Self::MalformedField => "malformed-field",
            Self::DuplicateName => "duplicate-name",
            Self::EmptyName => "empty-name",
            Self::UnknownStatus => "unknown-status",
            Self::UnknownFileStatus => "unknown-file-status",
            Self::UnknownMitigation => "unknown-mitigation",
            Self::BomSkipped => "bom-skipped",
            Self::NameFromPath => "name-from-path",
            Self::StatusDerived => "status-derived",
            Self::StatusAssumed => "status-assumed",
            Self::Contradiction => "contradiction",
        }
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that looks wrong with a report (or that parsing had to do to read it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// What it is about, stable for scripts.
    pub code: FindingCode,
    /// What exactly, for people: names the count, the field or the repository.
    pub message: String,
}

impl Finding {
    /// A finding.
    pub fn new(severity: Severity, code: FindingCode, message: String) -> Self {
        Self { severity, code, message }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)
    }
}

/// Everything that looks wrong with `report`, in a stable order: summary, health, timestamp,
/// top-level fields, then repositories in order, then duplicate names.
pub fn validate(report: &Report) -> Vec<Finding> {
    let mut findings = Vec::new();
    let computed = report.computed_summary();
    if let Some(written) = &report.summary {
        check_summary(written, &computed, &mut findings);
    }
    check_health(report, &mut findings);
    if let Some(timestamp) = &report.timestamp
        && timestamp.instant.is_none()
    {
        findings.push(Finding::new(
            Severity::Warning,
            FindingCode::TimestampUnparseable,
            format!(
                "timestamp {:?} is neither RFC 3339 nor YYYY-MM-DDTHH-MM-SSZ; its age is unknown",
                timestamp.raw
            ),
        ));
    }
    for field in REPORT_FIELDS {
        if let Some(value) = report.extra.get(*field).filter(|value| !value.is_null()) {
            let (code, expected) = match *field {
                "summary" => (FindingCode::SummaryMalformed, "an object of counts"),
                "mitigation_actions" => (FindingCode::MalformedField, "an object of strings"),
                "local_scan_active" => (FindingCode::MalformedField, "a boolean"),
                _ => (FindingCode::MalformedField, "a string"),
            };
            findings.push(Finding::new(
                Severity::Warning,
                code,
                format!(
                    "`{field}` should be {expected}, found {}; kept as written",
                    describe(value)
                ),
            ));
        }
    }
    for (index, repo) in report.repos.iter().enumerate() {
        let at = || RepoRef { index, name: Some(repo.name.clone()), shape: Shape::Current };
        if repo.name.is_empty() {
            findings.push(Finding::new(
                Severity::Warning,
                FindingCode::EmptyName,
                format!("repos[{index}] has an empty name"),
            ));
        }
        if let Status::Other(status) = &repo.status {
            findings.push(Finding::new(
                Severity::Info,
                FindingCode::UnknownStatus,
                format!("{}: unknown status {status:?}, shown as written", at()),
            ));
        }
        if let Some(FileStatus::Other(file_status)) = &repo.file_status {
            findings.push(Finding::new(
                Severity::Info,
                FindingCode::UnknownFileStatus,
                format!("{}: unknown file_status {file_status:?}", at()),
            ));
        }
        if let Some(mitigation) = &repo.mitigation
            && !report.mitigation_actions.is_empty()
            && !report.mitigation_actions.contains_key(mitigation)
        {
            findings.push(Finding::new(
                Severity::Info,
                FindingCode::UnknownMitigation,
                format!("{}: mitigation {mitigation:?} has no text in mitigation_actions", at()),
            ));
        }
        for contradiction in contradictions(repo) {
            findings.push(Finding::new(
                Severity::Warning,
                FindingCode::Contradiction,
                format!("{}: {contradiction}", at()),
            ));
        }
        // Walk the (few) extra fields rather than look up every known name in each repository.
        for (field, value) in &repo.extra {
            if REPO_FIELDS.contains(&field.as_str()) && !value.is_null() {
                findings.push(Finding::new(
                    Severity::Warning,
                    FindingCode::MalformedField,
                    format!(
                        "{}: `{field}` should be a string, found {}; kept as written",
                        at(),
                        describe(value)
                    ),
                ));
            }
        }
    }
    check_duplicate_names(report, &mut findings);
    findings
}

/// What in `repo` contradicts its status. Only fields that are present are compared: old
/// producers leave many out, and an absent field contradicts nothing.
fn contradictions(repo: &Repo) -> Vec<String> {
    let mut found = Vec::new();
    let status = &repo.status;
    let remote = repo.remote_url.as_deref().filter(|url| !url.is_empty());
    match status {
        Status::Missing => {
            if let Some(path) = &repo.local_path {
                found.push(format!("missing but has a local_path ({path})"));
            }
            if let Some(url) = remote {
                found.push(format!("missing but has an origin ({url})"));
            }
            if let Some(file_status) =
                repo.file_status.as_ref().filter(|file_status| **file_status != FileStatus::Unknown)
            {
                found.push(format!(
                    "missing but its files were checked (file_status {file_status})"
                ));
            }
        }
        Status::Clean | Status::Dirty => {
            let expected = repo.expected_url.as_deref().or(repo.clone_url.as_deref());
            if let (Some(remote), Some(expected)) = (remote, expected)
                && !same_repository(remote, expected)
            {
                found.push(format!(
                    "{status} but its origin {remote} is not the expected {expected}"
                ));
            }
        }
        Status::Mismatched => {
            if let (Some(remote), Some(expected)) = (remote, repo.expected_url.as_deref())
                && same_repository(remote, expected)
            {
                found.push(format!("mismatched but its origin is the expected {expected}"));
            }
        }
        Status::Extra | Status::Other(_) => {}
    }
    if let Some(mitigation) = &repo.mitigation
        && let Some(fits) = MITIGATION_FITS.iter().find(|(key, _)| key == mitigation)
        && status.is_known()
        && !fits.1.contains(status)
    {
        found.push(format!("{status} but its mitigation is {mitigation:?}"));
    }
    found
}

/// The mitigations real producers write, and the statuses each is written for.
const MITIGATION_FITS: &[(&str, &[Status])] = &[
    ("clone_missing", &[Status::Missing]),
    ("review_or_delete", &[Status::Extra]),
    ("commit_or_discard", &[Status::Dirty]),
    ("fix_remote_or_rename", &[Status::Mismatched]),
    ("repair_or_reclone", &[Status::Dirty, Status::Extra]),
];

/// Whether two remote URLs name the same repository, by their last two path segments
/// (`owner/name`), ignoring case, a `.git` suffix and the scheme: `git@github.com:alice/halo.git`
/// and `https://github.com/alice/halo` agree. Deliberately loose: it only has to catch a
/// producer that contradicts itself, never flag two spellings of one repository.
fn same_repository(a: &str, b: &str) -> bool {
    fn owner_and_name(url: &str) -> Option<(String, String)> {
        let url = url.trim().trim_end_matches('/');
        let url = url.strip_suffix(".git").unwrap_or(url);
        let mut parts = url.rsplit(['/', ':']);
        let name = parts.next().filter(|name| !name.is_empty())?;
        let owner = parts.next().filter(|owner| !owner.is_empty())?;
        Some((owner.to_lowercase(), name.to_lowercase()))
    }
    match (owner_and_name(a), owner_and_name(b)) {
        (Some(a), Some(b)) => a == b,
        // A bare name on one side: compare names only.
        _ => {
            let name = |url: &str| {
                let url = url.trim().trim_end_matches('/');
                let url = url.strip_suffix(".git").unwrap_or(url);
                url.rsplit(['/', ':']).next().unwrap_or(url).to_lowercase()
            };
            name(a) == name(b)
        }
    }
}

/// Top-level fields that `parse` keeps in `extra` only when their type is wrong.
const REPORT_FIELDS: &[&str] = &[
    "timestamp",
    "health_status",
    "summary",
    "mitigation_actions",
    "local_git_root",
    "local_scan_active",
    "github_user",
];

/// Repository fields that `parse` keeps in `extra` only when their type is wrong.
const REPO_FIELDS: &[&str] = &[
    "clone_url",
    "local_path",
    "remote_url",
    "expected_url",
    "dashboard_link",
    "mitigation",
    "file_status",
];

fn check_summary(written: &Summary, computed: &Summary, findings: &mut Vec<Finding>) {
    let counts = [
        ("total", written.total, computed.total, "repositories are listed"),
        ("missing", written.missing, computed.missing, "repositories are missing"),
        ("extra", written.extra, computed.extra, "repositories are extra"),
        ("dirty", written.dirty, computed.dirty, "repositories are dirty"),
        ("clean", written.clean, computed.clean, "repositories are clean"),
    ];
    for (name, written, actual, what) in counts {
        if written != actual {
            findings.push(Finding::new(
                Severity::Warning,
                FindingCode::SummaryMismatch,
                format!("summary.{name} is {written} but {actual} {what}"),
            ));
        }
    }
    let actual_mismatched = computed.mismatched.unwrap_or(0);
    match written.mismatched {
        Some(written) if written != actual_mismatched => findings.push(Finding::new(
            Severity::Warning,
            FindingCode::SummaryMismatch,
            format!("summary.mismatched is {written} but {actual_mismatched} repositories are mismatched"),
        )),
        None if actual_mismatched > 0 => findings.push(Finding::new(
            Severity::Info,
            FindingCode::SummaryMismatch,
            format!(
                "summary has no mismatched count (an older producer?) but {actual_mismatched} repositories are mismatched"
            ),
        )),
        Some(_) | None => {}
    }
    // Unknown statuses are compared only when the producer counted them under their own name.
    for (status, actual) in &computed.extra_counts {
        if let Some(written) = written.extra_counts.get(status).and_then(Value::as_u64)
            && Some(written) != actual.as_u64()
        {
            findings.push(Finding::new(
                Severity::Warning,
                FindingCode::SummaryMismatch,
                format!("summary.{status} is {written} but {actual} repositories are {status}"),
            ));
        }
    }
    for name in ["total", "missing", "extra", "dirty", "mismatched", "clean"] {
        if let Some(value) = written.extra_counts.get(name) {
            findings.push(Finding::new(
                Severity::Warning,
                FindingCode::SummaryMalformed,
                format!(
                    "summary.{name} should be a non-negative integer, found {}; kept as written",
                    describe(value)
                ),
            ));
        }
    }
}

fn check_health(report: &Report, findings: &mut Vec<Finding>) {
    let Some(written) = &report.health_status else { return };
    let computed = report.computed_health();
    if let Health::Other(other) = written {
        findings.push(Finding::new(
            Severity::Warning,
            FindingCode::HealthUnknown,
            format!(
                "health_status {other:?} is not green, yellow or red; the rule gives {computed}"
            ),
        ));
    } else if *written != computed {
        findings.push(Finding::new(
            Severity::Warning,
            FindingCode::HealthMismatch,
            format!("health_status is {written} but the repositories give {computed}"),
        ));
    }
}

fn check_duplicate_names(report: &Report, findings: &mut Vec<Finding>) {
    // Count first and collect indices only for repeated names: most reports have none, and a
    // vector per name would cost an allocation per repository.
    let mut counts: HashMap<&str, usize> = HashMap::with_capacity(report.repos.len());
    for repo in report.repos.iter().filter(|repo| !repo.name.is_empty()) {
        *counts.entry(&repo.name).or_insert(0) += 1;
    }
    if counts.len() == report.repos.iter().filter(|repo| !repo.name.is_empty()).count() {
        return;
    }
    let mut duplicates: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, repo) in report.repos.iter().enumerate() {
        if counts.get(repo.name.as_str()).is_some_and(|&count| count > 1) {
            let slot = *seen.entry(&repo.name).or_insert_with(|| {
                duplicates.push((&repo.name, Vec::new()));
                duplicates.len() - 1
            });
            duplicates[slot].1.push(index);
        }
    }
    for (name, indices) in duplicates {
        let places: Vec<String> = indices.iter().map(|index| format!("repos[{index}]")).collect();
        findings.push(Finding::new(
            Severity::Warning,
            FindingCode::DuplicateName,
            format!(
                "name {name:?} is used by {} repositories: {}",
                indices.len(),
                places.join(", ")
            ),
        ));
    }
}

/// A short description of a JSON value's type and (for scalars) value.
fn describe(value: &Value) -> String {
    Found::of(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SAMPLE_HYPHEN_TIMESTAMP, SAMPLE_REPORT, parse};

    fn findings_of(text: &str) -> Vec<Finding> {
        validate(&parse(text.as_bytes()).unwrap().report)
    }

    fn lines(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(Finding::to_string).collect()
    }

    #[test]
    fn consistent_sample_has_only_its_unknown_status() {
        assert_eq!(
            lines(&findings_of(SAMPLE_REPORT)),
            [
                r#"info unknown-status: repos[19] ("old-wiki"): unknown status "archived", shown as written"#
            ]
        );
    }

    #[test]
    fn stale_summary_and_health_are_each_named() {
        assert_eq!(
            lines(&findings_of(SAMPLE_HYPHEN_TIMESTAMP)),
            [
                "warning summary-mismatch: summary.dirty is 2 but 1 repositories are dirty",
                "info summary-mismatch: summary has no mismatched count (an older producer?) but 1 repositories are mismatched",
                "warning health-mismatch: health_status is yellow but the repositories give red",
            ]
        );
    }

    #[test]
    fn every_disagreeing_count_is_a_finding_of_its_own() {
        let text = r#"{"health_status": "green",
            "summary": {"total": 9, "missing": 1, "extra": 1, "dirty": 1, "mismatched": 1, "clean": 1, "archived": 5},
            "repos": [{"name": "a", "status": "clean"}, {"name": "b", "status": "archived"}]}"#;
        let findings = findings_of(text);
        let messages: Vec<&str> = findings.iter().map(|finding| finding.message.as_str()).collect();
        assert_eq!(
            messages[..7],
            [
                "summary.total is 9 but 2 repositories are listed",
                "summary.missing is 1 but 0 repositories are missing",
                "summary.extra is 1 but 0 repositories are extra",
                "summary.dirty is 1 but 0 repositories are dirty",
                "summary.mismatched is 1 but 0 repositories are mismatched",
                "summary.archived is 5 but 1 repositories are archived",
                "repos[1] (\"b\"): unknown status \"archived\", shown as written",
            ]
        );
        assert_eq!(findings.len(), 7, "{findings:?}");
        assert!(findings[..6].iter().all(|finding| finding.code == FindingCode::SummaryMismatch));
    }

    #[test]
    fn health_rule_is_checked_and_unknown_lights_named() {
        let text = r#"{"health_status": "green", "repos": [{"name": "a", "status": "missing"}]}"#;
        assert_eq!(
            lines(&findings_of(text)),
            ["warning health-mismatch: health_status is green but the repositories give red"]
        );
        let text = r#"{"health_status": "amber", "repos": [{"name": "a", "status": "dirty"}]}"#;
        assert_eq!(
            lines(&findings_of(text)),
            [
                r#"warning health-unknown: health_status "amber" is not green, yellow or red; the rule gives yellow"#
            ]
        );
        let text = r#"{"health_status": "yellow", "repos": [{"name": "a", "status": "extra"}]}"#;
        assert!(findings_of(text).is_empty());
    }

    #[test]
    fn duplicate_and_empty_names_are_found() {
        let text = r#"{"repos": [{"name": "a", "status": "clean"}, {"name": "", "status": "clean"},
            {"name": "a", "status": "dirty"}, {"name": "", "status": "clean"}, {"name": "a", "status": "clean"}]}"#;
        assert_eq!(
            lines(&findings_of(text)),
            [
                "warning empty-name: repos[1] has an empty name",
                "warning empty-name: repos[3] has an empty name",
                r#"warning duplicate-name: name "a" is used by 3 repositories: repos[0], repos[2], repos[4]"#,
            ]
        );
    }

    #[test]
    fn unparseable_timestamp_is_found() {
        let text = r#"{"timestamp": "last tuesday", "repos": []}"#;
        assert_eq!(
            lines(&findings_of(text)),
            [
                r#"warning timestamp-unparseable: timestamp "last tuesday" is neither RFC 3339 nor YYYY-MM-DDTHH-MM-SSZ; its age is unknown"#
            ]
        );
        assert!(findings_of(r#"{"timestamp": "2026-02-11T03-00-00Z", "repos": []}"#).is_empty());
    }

    #[test]
    fn fields_of_the_wrong_type_are_named_but_null_is_not() {
        let text = r#"{"summary": [1], "local_scan_active": "yes", "github_user": null,
            "summary_extra": 1,
            "repos": [{"name": "a", "status": "clean", "clone_url": 5, "local_path": null}]}"#;
        assert_eq!(
            lines(&findings_of(text)),
            [
                "warning summary-malformed: `summary` should be an object of counts, found an array; kept as written",
                "warning malformed-field: `local_scan_active` should be a boolean, found string \"yes\"; kept as written",
                "warning malformed-field: repos[0] (\"a\"): `clone_url` should be a string, found number `5`; kept as written",
            ]
        );
        let text = r#"{"summary": {"total": "1", "missing": 0, "extra": 0, "dirty": 0, "clean": 1},
            "repos": [{"name": "a", "status": "clean"}]}"#;
        assert_eq!(
            lines(&findings_of(text)),
            [
                "warning summary-mismatch: summary.total is 0 but 1 repositories are listed",
                "warning summary-malformed: summary.total should be a non-negative integer, found string \"1\"; kept as written",
            ]
        );
    }

    #[test]
    fn unknown_file_status_and_mitigation_are_noted() {
        let text = r#"{"mitigation_actions": {"clone_missing": "Clone it"},
            "repos": [{"name": "a", "status": "clean", "file_status": "partial"},
                      {"name": "b", "status": "missing", "mitigation": "clone_missing"},
                      {"name": "c", "status": "dirty", "mitigation": "shrug"}]}"#;
        assert_eq!(
            lines(&findings_of(text)),
            [
                r#"info unknown-file-status: repos[0] ("a"): unknown file_status "partial""#,
                r#"info unknown-mitigation: repos[2] ("c"): mitigation "shrug" has no text in mitigation_actions"#,
            ]
        );
    }

    #[test]
    fn codes_and_severities_serialise_as_their_stable_text() {
        let finding = Finding::new(Severity::Warning, FindingCode::SummaryMismatch, "m".to_owned());
        assert_eq!(
            serde_json::to_string(&finding).unwrap(),
            r#"{"severity":"warning","code":"summary-mismatch","message":"m"}"#
        );
        let codes = [
            FindingCode::SummaryMismatch,
            FindingCode::SummaryMalformed,
            FindingCode::HealthMismatch,
            FindingCode::HealthUnknown,
            FindingCode::TimestampUnparseable,
            FindingCode::MalformedField,
            FindingCode::DuplicateName,
            FindingCode::EmptyName,
            FindingCode::UnknownStatus,
            FindingCode::UnknownFileStatus,
            FindingCode::UnknownMitigation,
            FindingCode::BomSkipped,
            FindingCode::NameFromPath,
            FindingCode::StatusDerived,
            FindingCode::StatusAssumed,
            FindingCode::Contradiction,
        ];
        for code in codes {
            assert_eq!(serde_json::to_value(code).unwrap(), Value::from(code.as_str()));
        }
    }

    #[test]
    fn fields_that_contradict_the_status_are_named() {
        let text = r#"{"repos": [
            {"name": "gone", "status": "missing", "local_path": "/srv/git/gone",
             "remote_url": "https://github.com/alice/gone.git", "file_status": "complete",
             "mitigation": "clone_missing"},
            {"name": "moved", "status": "clean", "remote_url": "git@github.com:bob/other.git",
             "clone_url": "https://github.com/alice/moved.git", "mitigation": "clone_missing"},
            {"name": "fixed", "status": "mismatched", "remote_url": "git@github.com:Alice/fixed",
             "expected_url": "https://github.com/alice/fixed.git",
             "mitigation": "fix_remote_or_rename"}
        ]}"#;
        assert_eq!(
            lines(&findings_of(text)),
            [
                r#"warning contradiction: repos[0] ("gone"): missing but has a local_path (/srv/git/gone)"#,
                r#"warning contradiction: repos[0] ("gone"): missing but has an origin (https://github.com/alice/gone.git)"#,
                r#"warning contradiction: repos[0] ("gone"): missing but its files were checked (file_status complete)"#,
                r#"warning contradiction: repos[1] ("moved"): clean but its origin git@github.com:bob/other.git is not the expected https://github.com/alice/moved.git"#,
                r#"warning contradiction: repos[1] ("moved"): clean but its mitigation is "clone_missing""#,
                r#"warning contradiction: repos[2] ("fixed"): mismatched but its origin is the expected https://github.com/alice/fixed.git"#,
            ]
        );
    }

    #[test]
    fn every_spelling_of_one_repository_agrees_and_absent_fields_contradict_nothing() {
        for (a, b) in [
            ("https://github.com/alice/halo.git", "git@github.com:alice/halo.git"),
            ("https://github.com/Alice/Halo/", "ssh://git@github.com/alice/halo"),
            ("halo", "https://github.com/alice/halo.git"),
        ] {
            assert!(same_repository(a, b), "{a} {b}");
        }
        assert!(!same_repository(
            "https://github.com/alice/halo.git",
            "https://github.com/bob/halo"
        ));
        assert!(!same_repository(
            "https://github.com/alice/halo",
            "https://github.com/alice/halo2"
        ));
        let sparse = r#"{"repos": [{"name": "a", "status": "clean"}, {"name": "b", "status": "missing"},
            {"name": "c", "status": "dirty", "remote_url": "", "clone_url": "https://x/y/c.git"},
            {"name": "d", "status": "clean", "mitigation": "some_local_key"}]}"#;
        assert!(findings_of(sparse).is_empty(), "{:?}", findings_of(sparse));
    }
}
