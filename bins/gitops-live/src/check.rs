//! `gitops-live check`: parse a report and print its summary, the repositories that need action
//! (by status, and those out of step with their remote), and the findings about the report.
//!
//! Exit status: 0 when the report parses (findings or not), 1 when it cannot be read or parsed.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context as _;
use gitops_report::{
    DEFAULT_MAX_BYTES, Error, Finding, ParseOptions, Parsed, Repo, Report, Severity, Status,
    Summary, SyncIssue, parse_with, validate,
};
use serde_json::{Value, json};

/// Arguments of `gitops-live check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The report file to read.
    pub(crate) report: PathBuf,
    /// Print one JSON object on stdout instead of text, for scripts (also on a parse error).
    #[arg(long, env = "GITOPS_CHECK_JSON")]
    pub(crate) json: bool,
    /// Refuse reports larger than this many bytes (as `serve --max-report-bytes`; the older
    /// name `--max-bytes` still works).
    #[arg(
        long,
        alias = "max-bytes",
        env = "GITOPS_MAX_REPORT_BYTES",
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_BYTES
    )]
    pub(crate) max_report_bytes: usize,
}

/// Reads, parses and validates the report, and prints what it found.
pub(crate) fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let path = args.report.display().to_string();
    let bytes =
        std::fs::read(&args.report).with_context(|| format!("cannot read report {path}"))?;
    let parsed = parse_with(&bytes, &ParseOptions { max_bytes: args.max_report_bytes });
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            if args.json {
                println!("{}", error_json(&path, bytes.len(), &error));
            } else {
                eprintln!("error: {path}: {error}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut findings = parsed.notes.clone();
    findings.extend(validate(&parsed.report));
    let now = SystemTime::now();
    if args.json {
        println!("{}", report_json(&path, bytes.len(), &parsed, &findings, now));
    } else {
        print!("{}", report_text(&path, bytes.len(), &parsed, &findings, now));
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable summary: one fact per line, then every finding.
fn report_text(
    path: &str,
    n_bytes: usize,
    parsed: &Parsed,
    findings: &[Finding],
    now: SystemTime,
) -> String {
    let report = &parsed.report;
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "report: {path} ({n_bytes} bytes)");
    let _ = writeln!(out, "shape: {}", parsed.shape);
    let _ = match &report.timestamp {
        Some(timestamp) => match timestamp.seconds_before(now) {
            Some(seconds) => writeln!(out, "timestamp: {} ({})", timestamp.raw, age(seconds)),
            None => writeln!(out, "timestamp: {} (unreadable; age unknown)", timestamp.raw),
        },
        None => writeln!(out, "timestamp: absent"),
    };
    let computed = report.computed_health();
    let _ = match &report.health_status {
        Some(written) if *written == computed => {
            writeln!(out, "health: {written} (written), {computed} (computed)")
        }
        Some(written) => {
            writeln!(
                out,
                "health: {written} (written) but {computed} (computed from the repositories)"
            )
        }
        None => writeln!(out, "health: absent (computed: {computed})"),
    };
    let counts = report.computed_summary();
    let _ = writeln!(out, "repos: {}", counts.total);
    for (status, count) in known_counts(&counts) {
        let _ = writeln!(out, "  {status:<12}{count:>6}");
    }
    for (status, count) in &counts.extra_counts {
        // `Value` ignores width in its Display; pad its text instead.
        let count = count.to_string();
        let _ = writeln!(out, "  {status:<12}{count:>6}  (unknown status)");
    }
    let _ = writeln!(
        out,
        "summary: {}",
        match &report.summary {
            None => "absent",
            Some(_)
                if findings.iter().any(|finding| finding.code.as_str().starts_with("summary-")) =>
            {
                "disagrees with the repositories (see findings)"
            }
            Some(_) => "agrees with the repositories",
        }
    );
    write_needs_action(&mut out, report);
    let n_warnings =
        findings.iter().filter(|finding| finding.severity == Severity::Warning).count();
    let _ = writeln!(
        out,
        "findings about the report itself: {} ({n_warnings} warnings, {} info)",
        findings.len(),
        findings.len() - n_warnings
    );
    for finding in findings {
        let _ = writeln!(out, "  {finding}");
    }
    out
}

/// The statuses that call for action, in the order `check` lists them.
const ACTION_STATUSES: [Status; 4] =
    [Status::Missing, Status::Extra, Status::Dirty, Status::Mismatched];

/// The repositories of `status`, in the report's order.
fn with_status<'a>(report: &'a Report, status: &'a Status) -> impl Iterator<Item = &'a Repo> {
    report.repos.iter().filter(move |repo| repo.status == *status)
}

/// The repositories whose clone is out of step with its remote, with how.
fn out_of_sync(report: &Report) -> impl Iterator<Item = (&Repo, Vec<SyncIssue>)> {
    report
        .repos
        .iter()
        .map(|repo| (repo, repo.sync_issues()))
        .filter(|(_, issues)| !issues.is_empty())
}

/// What to look at for one repository that needs action: where it is, what it should be, and
/// the auditor's error if it had one.
fn detail(repo: &Repo) -> String {
    let mut parts = Vec::new();
    match repo.status {
        Status::Missing => {
            if let Some(url) = &repo.clone_url {
                parts.push(format!("clone {url}"));
            }
        }
        Status::Mismatched => {
            if let Some(path) = &repo.local_path {
                parts.push(path.clone());
            }
            match (repo.remote_url.as_deref().filter(|url| !url.is_empty()), &repo.expected_url) {
                (Some(remote), Some(expected)) => {
                    parts.push(format!("origin {remote}, expected {expected}"));
                }
                (None, Some(expected)) => parts.push(format!("no origin, expected {expected}")),
                (Some(remote), None) => parts.push(format!("origin {remote}")),
                (None, None) => {}
            }
        }
        _ => {
            if let Some(path) = &repo.local_path {
                parts.push(path.clone());
            }
        }
    }
    if let Some(error) = repo.extra.get("error").and_then(Value::as_str) {
        parts.push(format!("error: {error}"));
    }
    parts.join("; ")
}

/// The repositories that need action, grouped by status, then those out of step with their remote.
fn write_needs_action(out: &mut String, report: &Report) {
    let n_action =
        report.repos.iter().filter(|repo| ACTION_STATUSES.contains(&repo.status)).count();
    let _ = match n_action {
        0 => writeln!(out, "needs action: none"),
        n => writeln!(out, "needs action: {n} of {} repositories", report.repos.len()),
    };
    for status in &ACTION_STATUSES {
        let repos: Vec<&Repo> = with_status(report, status).collect();
        if repos.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {status} ({}):", repos.len());
        for repo in repos {
            let _ = match detail(repo) {
                detail if detail.is_empty() => writeln!(out, "    {}", repo.name),
                detail => writeln!(out, "    {}  ({detail})", repo.name),
            };
        }
    }
    let unsynced: Vec<(&Repo, Vec<SyncIssue>)> = out_of_sync(report).collect();
    let _ = match unsynced.len() {
        0 => writeln!(out, "out of sync with the remote: none"),
        n => writeln!(out, "out of sync with the remote: {n}"),
    };
    for (repo, issues) in unsynced {
        let issues: Vec<String> = issues.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "    {} ({}): {}", repo.name, repo.status, issues.join(", "));
    }
}

/// A repository that needs action, for `--json`: its name and the fields that say where and why.
fn repo_json(repo: &Repo) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("name".to_owned(), json!(repo.name));
    let fields = [
        ("local_path", &repo.local_path),
        ("clone_url", &repo.clone_url),
        ("remote_url", &repo.remote_url),
        ("expected_url", &repo.expected_url),
        ("mitigation", &repo.mitigation),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            object.insert(key.to_owned(), json!(value));
        }
    }
    if let Some(error) = repo.extra.get("error").and_then(Value::as_str) {
        object.insert("error".to_owned(), json!(error));
    }
    Value::Object(object)
}

/// The five known statuses' counts, in the order the dashboard shows them.
fn known_counts(counts: &Summary) -> [(&'static str, u64); 5] {
    [
        ("missing", counts.missing),
        ("extra", counts.extra),
        ("dirty", counts.dirty),
        ("mismatched", counts.mismatched.unwrap_or(0)),
        ("clean", counts.clean),
    ]
}

/// "3 hours ago", "2 days ago", or "12 minutes in the future" (a producer's clock can be ahead).
fn age(seconds: i64) -> String {
    let magnitude = seconds.unsigned_abs();
    let amount = match magnitude {
        0..120 => format!("{magnitude} seconds"),
        120..7_200 => format!("{} minutes", magnitude / 60),
        7_200..172_800 => format!("{} hours", magnitude / 3_600),
        _ => format!("{} days", magnitude / 86_400),
    };
    if seconds < 0 { format!("{amount} in the future") } else { format!("{amount} ago") }
}

/// The machine-readable summary of a parsed report.
fn report_json(
    path: &str,
    n_bytes: usize,
    parsed: &Parsed,
    findings: &[Finding],
    now: SystemTime,
) -> Value {
    let report = &parsed.report;
    let counts = report.computed_summary();
    let mut by_status: serde_json::Map<String, Value> = known_counts(&counts)
        .into_iter()
        .map(|(status, n)| (status.to_owned(), json!(n)))
        .collect();
    by_status.insert("other".to_owned(), Value::Object(counts.extra_counts.clone()));
    let timestamp = report.timestamp.as_ref().map(|timestamp| {
        json!({
            "raw": timestamp.raw,
            "readable": timestamp.instant.is_some(),
            "age_seconds": timestamp.seconds_before(now),
        })
    });
    json!({
        "path": path,
        "ok": true,
        "bytes": n_bytes,
        "shape": parsed.shape.as_str(),
        "timestamp": timestamp,
        "health": {
            "written": report.health_status.as_ref().map(ToString::to_string),
            "computed": report.computed_health().to_string(),
        },
        "repos": counts.total,
        "counts": by_status,
        "summary_present": report.summary.is_some(),
        "needs_action": ACTION_STATUSES
            .iter()
            .map(|status| {
                let repos: Vec<Value> = with_status(report, status).map(repo_json).collect();
                (status.to_string(), Value::Array(repos))
            })
            .collect::<serde_json::Map<String, Value>>(),
        "out_of_sync": out_of_sync(report)
            .map(|(repo, issues)| json!({ "name": repo.name, "status": repo.status, "issues": issues }))
            .collect::<Vec<Value>>(),
        "findings": findings,
    })
}

/// The machine-readable form of a parse error, with its location.
fn error_json(path: &str, n_bytes: usize, error: &Error) -> Value {
    let kind = match error {
        Error::TooLarge { .. } => "too-large",
        Error::Empty => "empty",
        Error::Syntax { .. } => "syntax",
        Error::Invalid { .. } => "invalid",
        _ => "other",
    };
    json!({
        "path": path,
        "ok": false,
        "bytes": n_bytes,
        "error": {
            "kind": kind,
            "message": error.to_string(),
            "line": error.position().map(|position| position.line),
            "column": error.position().map(|position| position.column),
            "repo": error.repo().map(|repo| json!({ "index": repo.index, "name": repo.name })),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_pick_a_readable_unit_and_say_when_in_the_future() {
        assert_eq!(age(0), "0 seconds ago");
        assert_eq!(age(119), "119 seconds ago");
        assert_eq!(age(600), "10 minutes ago");
        assert_eq!(age(3 * 3_600 + 5), "3 hours ago");
        assert_eq!(age(3 * 86_400), "3 days ago");
        assert_eq!(age(-300), "5 minutes in the future");
    }
}
