//! A restart is invisible: the state directory keeps the epoch, the state and the history, so a
//! client that brings its cursor across a SIGTERM or a kill -9 gets what it missed, never a
//! snapshot it does not need.

use std::time::Duration;

use gitops_client::{Connection, LiveState};
use gitops_diff::same_state;
use gitops_protocol::{Cursor, ServerMessage};
use gitops_report::{Report, Status, generate_report};

use crate::support::{ReportFile, Server, Style, eventually, http};

fn server_cursor(server: &Server) -> Option<Cursor> {
    let response = http(server.addr, "GET", "/api/audit", &[]);
    (response.status == 200)
        .then(|| response.header("etag").expect("an etag").parse().expect("a cursor"))
}

fn metric(server: &Server, name: &str) -> u64 {
    let body = String::from_utf8(http(server.addr, "GET", "/metrics", &[]).body).expect("utf-8");
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn flip(report: &mut Report, round: usize) {
    let statuses = [Status::Clean, Status::Dirty, Status::Missing];
    for (i, repo) in report.repos.iter_mut().enumerate().take(3) {
        repo.status = statuses[(i + round) % statuses.len()].clone();
    }
}

/// Reads until the client's state equals `report`; returns the state-bearing messages seen.
async fn follow(
    connection: &mut Connection,
    state: &mut LiveState,
    report: &Report,
) -> Vec<ServerMessage> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !state.report.as_ref().is_some_and(|r| same_state(r, report)) {
        let message = tokio::time::timeout_at(deadline, connection.recv())
            .await
            .expect("the state arrives in time")
            .expect("healthy")
            .expect("open");
        if message.cursor().is_some() {
            seen.push(message.clone());
        }
        state.apply(message).expect("applies");
    }
    seen
}

fn start(file: &ReportFile, state_dir: &str) -> Server {
    Server::start_with_env(
        &["serve", "--report", &file.path_str()],
        &[("GITOPS_STATE_DIR", state_dir)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_resume_across_sigterm_and_kill_9_without_a_snapshot() {
    let state_dir = tempfile::tempdir().expect("a state dir");
    let state_path = state_dir.path().to_str().expect("utf-8").to_owned();
    let mut report = generate_report(40, 12);
    let mut file = ReportFile::new(&report.to_json_bytes());
    let server = start(&file, &state_path);
    eventually(Duration::from_secs(10), || server_cursor(&server));
    let mut connection = Connection::open(&server.ws_url(), None, None).await.expect("connect");
    let mut state = LiveState::default();
    for round in 1..=3 {
        flip(&mut report, round);
        file.write(&report.to_json_bytes(), Style::AtomicRename);
        follow(&mut connection, &mut state, &report).await;
    }
    let before = state.cursor.expect("a cursor");
    drop(connection);

    // 1. SIGTERM, nothing changes meanwhile: the same cursor, and resuming sends nothing.
    assert!(server.terminate().success());
    let server = start(&file, &state_path);
    let cursor = eventually(Duration::from_secs(10), || server_cursor(&server));
    assert_eq!(cursor, before, "the restarted server continues the same epoch and seq");
    let mut connection =
        Connection::open(&server.ws_url(), Some(before), None).await.expect("connect");
    // A round trip: once the status arrives, the resume has been answered.
    eventually(Duration::from_secs(10), || {
        (metric(&server, "gitops_live_resume_total{kind=\"up_to_date\"}") == 1).then_some(())
    });
    assert_eq!(metric(&server, "gitops_live_resume_total{kind=\"snapshot\"}"), 0);
    assert_eq!(
        metric(&server, "gitops_live_publishes_total"),
        0,
        "an unchanged report is no change"
    );

    // 2. kill -9 after more changes, and one more change while the server is down: the client
    //    that brings its cursor gets that change as a delta of the same epoch.
    flip(&mut report, 4);
    file.write(&report.to_json_bytes(), Style::InPlace);
    follow(&mut connection, &mut state, &report).await;
    let before_kill = state.cursor.expect("a cursor");
    drop(connection);
    drop(server); // SIGKILL
    flip(&mut report, 5);
    file.write(&report.to_json_bytes(), Style::AtomicRename);
    let server = start(&file, &state_path);
    let after = eventually(Duration::from_secs(10), || {
        server_cursor(&server).filter(|cursor| cursor.seq > before_kill.seq)
    });
    assert_eq!(after.epoch, before_kill.epoch, "kill -9 keeps the epoch");
    let mut connection =
        Connection::open(&server.ws_url(), Some(before_kill), None).await.expect("connect");
    let seen = follow(&mut connection, &mut state, &report).await;
    assert!(
        seen.iter().all(|m| !matches!(m, ServerMessage::AuditUpdate { .. })),
        "the change made while down arrives as deltas: {seen:?}"
    );
    assert_eq!(state.cursor, Some(after));
    assert_eq!(metric(&server, "gitops_live_resume_total{kind=\"snapshot\"}"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_dir_holds_one_server_and_a_log_of_another_report_is_not_continued() {
    let state_dir = tempfile::tempdir().expect("a state dir");
    let state_path = state_dir.path().to_str().expect("utf-8").to_owned();
    let file = ReportFile::new(&generate_report(5, 1).to_json_bytes());
    let server = start(&file, &state_path);
    let first = eventually(Duration::from_secs(10), || server_cursor(&server));

    // A second server on the same directory refuses to start and names the holder.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .args(["serve", "--bind", "127.0.0.1:0", "--report", &file.path_str()])
        .env("GITOPS_STATE_DIR", &state_path)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&server_pid(&server).to_string()), "names the holder: {stderr}");
    drop(server);

    // Another report in the same directory: a new epoch, not the other report's state.
    let other = ReportFile::new(&generate_report(7, 2).to_json_bytes());
    let server = start(&other, &state_path);
    let cursor = eventually(Duration::from_secs(10), || server_cursor(&server));
    assert_ne!(cursor.epoch, first.epoch);
    let body = http(server.addr, "GET", "/api/audit", &[]).body;
    let ServerMessage::AuditUpdate { data, .. } = ServerMessage::decode(&body).expect("a message")
    else {
        panic!("a snapshot");
    };
    assert!(same_state(&data, &generate_report(7, 2)));
}

fn server_pid(server: &Server) -> u32 {
    server.pid()
}
