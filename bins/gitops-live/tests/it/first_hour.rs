//! What a new user meets in the first hour: the server says what it waits for and what it found,
//! its log is plain text when it goes to a pipe, Ctrl-C leaves at once, and the history folder
//! does not grow for ever.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gitops_client::Connection;
use serde_json::Value;

use crate::support::{Server, eventually, git, http};

fn status(server: &Server) -> Value {
    http(server.addr, "GET", "/api/ws/status", &[]).json()
}

/// A root with one committed clone `alpha` (origin alice/alpha, `target` ignored) and an
/// expected list naming alpha and beta.
fn clones(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = dir.join("git");
    let alpha = root.join("alpha");
    std::fs::create_dir_all(&alpha).expect("mkdir");
    git(&alpha, &["init", "-q"]);
    std::fs::write(alpha.join("README.md"), "alpha\n").expect("write");
    std::fs::write(alpha.join(".gitignore"), "target\n").expect("write");
    git(&alpha, &["add", "."]);
    git(&alpha, &["commit", "-q", "-m", "first"]);
    git(&alpha, &["remote", "add", "origin", "https://github.com/alice/alpha.git"]);
    let expected = dir.join("expected.txt");
    std::fs::write(&expected, "alice/alpha\nalice/beta\n").expect("write");
    (root, expected)
}

#[test]
fn a_report_that_does_not_exist_yet_is_named_in_a_plain_log_and_no_good_report_is_claimed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("GitRepoReport.json");
    let path_text = path.display().to_string();
    let (server, log) = Server::start_logging(
        &["serve", "--report", &path_text],
        // The log goes to a pipe: no colour, whatever the level.
        &[("RUST_LOG", "info")],
    );
    log.wait_for(&["does not exist yet", &path_text, "waiting for an audit job to write it"]);
    let report = &status(&server)["report"];
    assert_eq!(report["state"], "waiting");
    let message = report["last_error"]["message"].as_str().expect("a message");
    assert!(message.contains("no good report yet"), "{message}");
    assert!(!message.contains("last good"), "{message}");

    std::fs::write(&path, b"{\"repos\": [").expect("write");
    let message = eventually(Duration::from_secs(10), || {
        let message = status(&server)["report"]["last_error"]["message"].as_str()?.to_owned();
        message.contains("EOF").then_some(message)
    });
    assert!(message.ends_with("; no good report yet"), "{message}");

    let good = gitops_report::generate_report(3, 1);
    std::fs::write(&path, good.to_json_bytes()).expect("write");
    eventually(Duration::from_secs(10), || {
        (status(&server)["report"]["state"] == "ok").then_some(())
    });
    std::fs::write(&path, b"{\"repos\": [").expect("write");
    let message = eventually(Duration::from_secs(10), || {
        status(&server)["report"]["last_error"]["message"].as_str().map(str::to_owned)
    });
    assert!(message.ends_with("; serving the last good report"), "{message}");
    log.wait_for(&["serving the last good report"]);
    let text = log.text();
    assert!(!text.contains('\u{1b}'), "escape codes in a piped log:\n{text:?}");
}

#[test]
fn audit_mode_says_what_it_found_and_where_it_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root, expected) = clones(dir.path());
    let out = dir.path().join("out/GitRepoReport.json");
    let (root_text, expected_text, out_text) =
        (root.display().to_string(), expected.display().to_string(), out.display().to_string());
    let (_server, log) = Server::start_logging(
        &[
            "serve",
            "--report",
            &out_text,
            "--audit-root",
            &root_text,
            "--audit-expected",
            &expected_text,
            "--audit-interval",
            "1h",
        ],
        &[("RUST_LOG", "info")],
    );
    log.wait_for(&["auditing the clones in", &root_text, &expected_text, "every 1h", &out_text]);
    log.wait_for(&[
        "first audit",
        "1 clone in",
        "2 repositories expected",
        "1 missing",
        "1 clean",
        &out_text,
    ]);
    assert!(!log.text().contains('\u{1b}'), "escape codes in a piped log");
}

#[test]
fn every_audit_refreshes_last_loaded_even_when_nothing_changed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root, expected) = clones(dir.path());
    let alpha = root.join("alpha");
    let out = dir.path().join("GitRepoReport.json");
    let server = Server::start(&[
        "serve",
        "--report",
        &out.display().to_string(),
        "--audit-root",
        &root.display().to_string(),
        "--audit-expected",
        &expected.display().to_string(),
        "--audit-interval",
        "1h",
    ]);
    let (first_loaded, cursor) = eventually(Duration::from_secs(20), || {
        let status = status(&server);
        let loaded = status["report"]["last_loaded"].as_str()?.to_owned();
        Some((loaded, status["cursor"].as_str()?.to_owned()))
    });
    // An ignored file inside the clone: the clone is re-audited and found unchanged.
    std::fs::create_dir_all(alpha.join("target")).expect("mkdir");
    let mut n = 0;
    let status = eventually(Duration::from_secs(20), || {
        n += 1;
        std::fs::write(alpha.join("target/build.log"), format!("build {n}\n")).expect("write");
        std::thread::sleep(Duration::from_millis(200));
        let status = status(&server);
        (status["report"]["last_loaded"].as_str()? != first_loaded).then_some(status)
    });
    assert_eq!(status["cursor"].as_str(), Some(cursor.as_str()), "nothing was published");
    assert_eq!(status["report"]["state"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_closes_clients_at_once_instead_of_over_the_drain_window() {
    let report = gitops_report::generate_report(3, 8);
    let file = crate::support::ReportFile::new(&report.to_json_bytes());
    // A drain window SIGTERM would take up to ten minutes over.
    let server = Server::start(&["serve", "--report", &file.path_str(), "--drain-window", "10m"]);
    let mut connection = Connection::open(&server.ws_url(), None, None).await.expect("connect");
    // The first state-bearing message: the client is subscribed.
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), connection.recv())
            .await
            .expect("a message in time")
            .expect("healthy")
            .expect("open");
        if message.cursor().is_some() {
            break;
        }
    }
    let interrupt = tokio::task::spawn_blocking(move || server.interrupt(Duration::from_secs(30)));
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(30), connection.recv())
            .await
            .expect("closed well before the drain window")
        {
            Ok(Err(closed)) => break closed,
            Ok(Ok(_)) => continue,
            Err(error) => panic!("expected a close frame, got {error}"),
        }
    };
    assert_eq!(closed.code, Some(1001), "{:?}", closed.reason);
    assert!(closed.retry_after.is_some(), "a reconnect delay: {:?}", closed.reason);
    let exit = interrupt.await.expect("join");
    assert!(exit.success(), "Ctrl-C is a clean exit: {exit:?}");
}

/// Whoever starts the server waits for its address, then may stop it at once: the signal
/// handlers must be in place by then (an unhandled SIGINT kills the process).
#[test]
fn a_signal_as_soon_as_the_address_is_printed_is_a_clean_exit() {
    let report = gitops_report::generate_report(3, 8);
    let file = crate::support::ReportFile::new(&report.to_json_bytes());
    for _ in 0..5 {
        let server = Server::start(&["serve", "--report", &file.path_str()]);
        let exit = server.interrupt(Duration::from_secs(30));
        assert!(exit.success(), "SIGINT right after start: {exit:?}");
        let server = Server::start(&["demo"]);
        let exit = server.terminate();
        assert!(exit.success(), "SIGTERM right after start: {exit:?}");
    }
}

#[test]
fn the_history_folder_keeps_the_newest_snapshots() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root, expected) = clones(dir.path());
    let history = dir.path().join("audit-history");
    std::fs::create_dir_all(&history).expect("mkdir");
    for old in ["2020-01-01T00-00-00Z", "2020-01-02T00-00-00Z", "2020-01-03T00-00-00Z"] {
        std::fs::write(history.join(format!("{old}.json")), "{\"repos\": []}").expect("write");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .args(["audit", "--root"])
        .arg(&root)
        .arg("--expected")
        .arg(&expected)
        .arg("--out")
        .arg(dir.path().join("GitRepoReport.json"))
        .arg("--history")
        .arg(&history)
        .args(["--history-keep", "2"])
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("deleted 2 old snapshots, keeping the newest 2"), "{stderr}");
    let mut names: Vec<String> = std::fs::read_dir(&history)
        .expect("list")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], "2020-01-03T00-00-00Z.json", "the newest old one is kept: {names:?}");
    assert_eq!(names[2], "latest.json");
}

#[test]
fn a_config_file_sets_what_flags_leave_open_and_a_bad_one_is_refused_with_where() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    std::fs::write(&report, r#"{"repos":[{"name":"halo","status":"clean"}]}"#).expect("write");
    let config = dir.path().join("config.toml");
    let text = format!(
        "report = {:?}\nexpect-report-every = \"1h\"\n\n[drain]\nwindow = \"0s\"\n",
        report.display().to_string()
    );
    std::fs::write(&config, text).expect("write");
    let config_arg = config.display().to_string();
    // The report comes from the file: no --report on the command line.
    let server = Server::start(&["serve", "--config", &config_arg]);
    let status = eventually(Duration::from_secs(20), || {
        let body = http(server.addr, "GET", "/api/ws/status", &[]).json();
        (body["report"]["state"] == "ok").then_some(body)
    });
    assert_eq!(status["report"]["path"], report.display().to_string());
    drop(server);

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "report = \"/x.json\"\n\n[audit]\nrot = \"/srv/git\"\nmax-clients = \"lots\"\n",
    )
    .expect("write");
    let bad_arg = bad.display().to_string();
    let checked = Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .args(["config", "check", &bad_arg])
        .env("GITOPS_CONFIG", "none")
        .output()
        .expect("runs");
    assert_eq!(checked.status.code(), Some(1));
    let out = String::from_utf8_lossy(&checked.stdout);
    assert!(
        out.contains(&format!(
            "{bad_arg}:4:1: unknown key `audit-rot` (did you mean `audit-root`?)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{bad_arg}:5:1: `audit-max-clients`")) || out.contains("5:1"),
        "{out}"
    );
    let refused = Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .args(["serve", "--config", &bad_arg])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2), "refused before starting");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("unknown key `audit-rot`") && err.contains("4:1"), "{err}");
    let good = Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .args(["config", "check", &config_arg])
        .output()
        .expect("runs");
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stdout));
}
