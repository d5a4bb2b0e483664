//! `gitops-live check` on the bundled samples and on broken files: output and exit status.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::git;

/// Writes `contents` to a fresh file under cargo's test scratch folder.
fn report_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn check(args: &[&str], path: &PathBuf) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .arg("check")
        .args(args)
        .arg(path)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn sample_report_prints_shape_health_counts_and_findings() {
    let path = report_file("sample.json", gitops_report::SAMPLE_REPORT.as_bytes());
    let output = check(&[], &path);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(text.contains("shape: current\n"), "{text}");
    assert!(text.contains("timestamp: 2025-06-20T03:00:00Z ("), "{text}");
    assert!(text.contains(" days ago)\n"), "{text}");
    assert!(text.contains("health: red (written), red (computed)\n"), "{text}");
    assert!(text.contains("repos: 50\n"), "{text}");
    assert!(text.contains("  missing          4\n"), "{text}");
    assert!(text.contains("  clean           34\n"), "{text}");
    assert!(text.contains("  archived         1  (unknown status)\n"), "{text}");
    assert!(text.contains("summary: agrees with the repositories\n"), "{text}");
    assert!(text.contains("findings about the report itself: 1 (0 warnings, 1 info)\n"), "{text}");
    assert!(text.contains(r#"  info unknown-status: repos[19] ("old-wiki")"#), "{text}");
}

#[test]
fn stale_summary_and_health_are_reported_but_still_exit_zero() {
    let path = report_file("hyphen.json", gitops_report::SAMPLE_HYPHEN_TIMESTAMP.as_bytes());
    let output = check(&[], &path);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("timestamp: 2026-02-11T03-00-00Z ("), "{text}");
    assert!(!text.contains("unreadable"), "{text}");
    assert!(
        text.contains("health: yellow (written) but red (computed from the repositories)\n"),
        "{text}"
    );
    assert!(text.contains("summary: disagrees with the repositories (see findings)\n"), "{text}");
    assert!(
        text.contains(
            "  warning summary-mismatch: summary.dirty is 2 but 1 repositories are dirty\n"
        ),
        "{text}"
    );
    assert!(text.contains("  warning health-mismatch: "), "{text}");
}

#[test]
fn legacy_array_is_read_and_its_derivations_listed() {
    let path = report_file("legacy.json", gitops_report::SAMPLE_LEGACY_ARRAY.as_bytes());
    let output = check(&[], &path);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("shape: legacy-array\n"), "{text}");
    assert!(text.contains("timestamp: absent\n"), "{text}");
    assert!(text.contains("health: absent (computed: yellow)\n"), "{text}");
    assert!(text.contains("summary: absent\n"), "{text}");
    assert!(text.contains("  info name-from-path: 3 repositories have no name"), "{text}");
    assert!(text.contains("  info status-derived: "), "{text}");
}

#[test]
fn broken_report_exits_one_with_the_error_and_its_location() {
    let sample = gitops_report::SAMPLE_REPORT;
    let cut = sample.find("\"name\": \"esphome\"").unwrap() + 60;
    let path = report_file("broken.json", &sample.as_bytes()[..cut]);
    let output = check(&[], &path);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert!(message.starts_with("error: "), "{message}");
    assert!(
        message.contains(r#"broken.json: repos[2] ("esphome"): invalid JSON: EOF while parsing"#),
        "{message}"
    );
    assert!(message.contains(" at line "), "{message}");

    let path = report_file("status.json", br#"{"repos": [{"name": "a", "status": 5}]}"#);
    let output = check(&[], &path);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(
            r#"repos[0] ("a"): status must be a string, found number `5` at line 1 column 36"#
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn empty_and_unreadable_files_exit_one() {
    let path = report_file("empty.json", b"");
    let output = check(&[], &path);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("empty.json: report is empty"), "{}", stderr(&output));

    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check/does-not-exist.json");
    let output = check(&[], &missing);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read report"), "{}", stderr(&output));

    let path = report_file("large.json", gitops_report::SAMPLE_REPORT.as_bytes());
    let output = check(&["--max-bytes", "1000"], &path);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("over the limit of 1000 bytes"), "{}", stderr(&output));
}

#[test]
fn json_output_carries_the_same_facts() {
    let path = report_file("hyphen-json.json", gitops_report::SAMPLE_HYPHEN_TIMESTAMP.as_bytes());
    let output = check(&["--json"], &path);
    assert_eq!(output.status.code(), Some(0));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(value["shape"], "current");
    assert_eq!(value["timestamp"]["raw"], "2026-02-11T03-00-00Z");
    assert_eq!(value["timestamp"]["readable"], true);
    assert!(value["timestamp"]["age_seconds"].is_i64());
    assert_eq!(value["health"]["written"], "yellow");
    assert_eq!(value["health"]["computed"], "red");
    assert_eq!(value["repos"], 4);
    assert_eq!(value["counts"]["mismatched"], 1);
    let codes: Vec<&str> = value["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["summary-mismatch", "summary-mismatch", "health-mismatch"]);

    let path =
        report_file("broken-json.json", b"{\"repos\": [\n  {\"name\": \"a\", \"status\": [1]}\n]}");
    let output = check(&["--json"], &path);
    assert_eq!(output.status.code(), Some(1));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["ok"], false);
    assert_eq!(value["error"]["kind"], "invalid");
    assert_eq!(value["error"]["line"], 2);
    assert_eq!(value["error"]["repo"]["index"], 0);
    assert_eq!(value["error"]["repo"]["name"], "a");
}

#[test]
fn a_red_report_lists_the_repositories_that_need_action_by_status() {
    let path = report_file("sample-actions.json", gitops_report::SAMPLE_REPORT.as_bytes());
    let output = check(&[], &path);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    for line in [
        "needs action: 15 of 50 repositories\n",
        "  missing (4):\n    halo  (clone https://github.com/alice/halo.git)\n",
        "  extra (3):\n    scratch  (/srv/git/scratch)\n",
        "  dirty (6):\n    esphome  (/srv/git/esphome)\n",
        "  mismatched (2):\n    ha-notify  (/srv/git/ha-notify; origin https://github.com/alice/ha_person_notify.git, expected https://github.com/alice/ha-notify.git)\n",
        "out of sync with the remote: 2\n",
        "    ansible-homelab (dirty): 2 stashes\n",
        "    dotfiles (clean): 3 unpushed commits\n",
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    // The repositories come before the findings about the report, which are something else.
    assert!(text.find("needs action").unwrap() < text.find("findings about the report").unwrap());

    let green = report_file("green.json", br#"{"repos": [{"name": "a", "status": "clean"}]}"#);
    let text = stdout(&check(&[], &green));
    assert!(text.contains("needs action: none\nout of sync with the remote: none\n"), "{text}");
}

/// A commit that was never pushed leaves the clone `clean`; `check` still says so, on a report
/// the real auditor wrote from real repositories.
#[test]
fn unpushed_work_in_an_audited_clone_is_named_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remotes/alpha.git");
    std::fs::create_dir_all(&remote).unwrap();
    git(&remote, &["init", "--bare", "-q"]);
    let root = dir.path().join("git");
    std::fs::create_dir_all(&root).unwrap();
    git(&root, &["clone", "-q", remote.to_str().unwrap(), "alpha"]);
    let alpha = root.join("alpha");
    std::fs::write(alpha.join("README.md"), "alpha\n").unwrap();
    git(&alpha, &["add", "."]);
    git(&alpha, &["commit", "-q", "-m", "first"]);
    git(&alpha, &["push", "-q", "origin", "main"]);
    std::fs::write(alpha.join("notes.md"), "later\n").unwrap();
    git(&alpha, &["add", "."]);
    git(&alpha, &["commit", "-q", "-m", "not pushed"]);
    let expected = dir.path().join("expected.txt");
    std::fs::write(&expected, "alpha\nbeta\n").unwrap();
    let report = dir.path().join("GitRepoReport.json");
    let audit = Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .args(["audit", "--root", root.to_str().unwrap(), "--expected"])
        .arg(&expected)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert!(audit.status.success(), "{}", stderr(&audit));

    let text = stdout(&check(&[], &report));
    assert!(
        text.contains("needs action: 1 of 2 repositories\n  missing (1):\n    beta\n"),
        "{text}"
    );
    assert!(
        text.contains("out of sync with the remote: 1\n    alpha (clean): 1 unpushed commit\n"),
        "{text}"
    );

    let value: Value = serde_json::from_str(&stdout(&check(&["--json"], &report))).unwrap();
    assert_eq!(
        value["needs_action"]["missing"],
        serde_json::json!([{"name": "beta", "mitigation": "clone_missing"}])
    );
    assert_eq!(value["needs_action"]["dirty"], serde_json::json!([]));
    assert_eq!(
        value["out_of_sync"],
        serde_json::json!([{"name": "alpha", "status": "clean", "issues": [{"kind": "unpushed", "commits": 1}]}])
    );
}
