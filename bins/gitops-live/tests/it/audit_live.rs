//! `serve --audit-root`: the report is produced in-process and a change inside one clone shows
//! on a connected client without any report file in between.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gitops_client::{Connection, LiveState};
use gitops_report::Status;

use crate::support::{Server, eventually};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

fn status_of(state: &LiveState, name: &str) -> Option<Status> {
    state.report.as_ref()?.repos.iter().find(|r| r.name == name).map(|r| r.status.clone())
}

async fn wait_for(connection: &mut Connection, state: &mut LiveState, name: &str, want: Status) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while status_of(state, name) != Some(want.clone()) {
        let message = tokio::time::timeout_at(deadline, connection.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("{name} did not become {want} in time; now {:?}", status_of(state, name))
            })
            .expect("healthy")
            .expect("open");
        state.apply(message).expect("applies");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_or_a_new_file_in_a_clone_reaches_clients_without_a_report_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("git");
    let alpha = root.join("alpha");
    std::fs::create_dir_all(&alpha).expect("mkdir");
    git(&alpha, &["init", "-q", "-b", "main"]);
    std::fs::write(alpha.join("README.md"), "alpha\n").expect("write");
    std::fs::write(alpha.join(".gitignore"), "target\n").expect("write");
    git(&alpha, &["add", "."]);
    git(&alpha, &["commit", "-q", "-m", "first"]);
    git(&alpha, &["remote", "add", "origin", "https://github.com/alice/alpha.git"]);
    let expected = dir.path().join("expected.txt");
    std::fs::write(&expected, "alice/alpha\nalice/beta\n").expect("write");
    let out = dir.path().join("out/GitRepoReport.json");

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
    let mut connection = Connection::open(&server.ws_url(), None, None).await.expect("connect");
    let mut state = LiveState::default();
    wait_for(&mut connection, &mut state, "alpha", Status::Clean).await;
    assert_eq!(status_of(&state, "beta"), Some(Status::Missing));

    std::fs::write(alpha.join("notes.txt"), "untracked\n").expect("write");
    wait_for(&mut connection, &mut state, "alpha", Status::Dirty).await;

    git(&alpha, &["add", "notes.txt"]);
    git(&alpha, &["commit", "-q", "-m", "notes"]);
    wait_for(&mut connection, &mut state, "alpha", Status::Clean).await;

    // The file is written too, for other readers, and it matches what clients see.
    let written = eventually(Duration::from_secs(10), || {
        let report = gitops_report::parse(&std::fs::read(&out).ok()?).ok()?.report;
        report
            .repos
            .iter()
            .any(|r| r.name == "alpha" && r.status == Status::Clean)
            .then_some(report)
    });
    assert!(written.repos.iter().any(|r| r.name == "beta" && r.status == Status::Missing));
    let api: serde_json::Value = serde_json::from_slice(
        &crate::support::http(server.addr, "GET", "/api/ws/status", &[]).body,
    )
    .expect("json");
    assert_eq!(api["report"]["watch"], "auditing");
}
