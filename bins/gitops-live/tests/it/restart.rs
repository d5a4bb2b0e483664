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

/// A tmpfs mounted for a test, unmounted when dropped.
struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(path: &std::path::Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(path).map_err(|e| format!("mkdir: {e}"))?;
        let output = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
        }
        Ok(Self { path: path.to_owned() })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the filesystem at `dir` with one file until it is full; returns the file.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("a filler file");
    let chunk = vec![0u8; 64 << 10];
    for _ in 0..4096 {
        if file.write_all(&chunk).and_then(|()| file.sync_all()).is_err() {
            break;
        }
    }
    path
}

fn log_state(server: &Server) -> String {
    let body = http(server.addr, "GET", "/api/ws/status", &[]).body;
    let status: serde_json::Value = serde_json::from_slice(&body).expect("status JSON");
    status["log"]["state"].as_str().unwrap_or("absent").to_owned()
}

/// Every repository gets a new note: a publish the full disk cannot hold.
fn rewrite_notes(report: &mut Report, round: usize) {
    for repo in &mut report.repos {
        repo.extra
            .insert("notes".into(), serde_json::json!(format!("{round}{}", "n".repeat(2000))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_keeps_serving_says_so_and_the_log_catches_up_when_space_returns() {
    let temp = tempfile::tempdir().expect("a temp dir");
    let mount_point = temp.path().join("state");
    let mount = match Tmpfs::mount(&mount_point, "6m") {
        Ok(mount) => mount,
        Err(reason) => {
            eprintln!("skipped: cannot mount a tmpfs here ({reason})");
            return;
        }
    };
    let state_path = mount.path.to_str().expect("utf-8").to_owned();
    let mut report = generate_report(100, 21);
    let mut file = ReportFile::new(&report.to_json_bytes());
    let server = start(&file, &state_path);
    eventually(Duration::from_secs(10), || server_cursor(&server));
    assert_eq!(log_state(&server), "ok");
    let mut connection = Connection::open(&server.ws_url(), None, None).await.expect("connect");
    let mut state = LiveState::default();
    follow(&mut connection, &mut state, &report).await;

    let filler = fill(&mount.path);
    for round in 1..=3 {
        rewrite_notes(&mut report, round);
        file.write(&report.to_json_bytes(), Style::AtomicRename);
        // Live serving goes on: the client converges on every state.
        follow(&mut connection, &mut state, &report).await;
    }
    assert_eq!(log_state(&server), "failing", "the status says the log is failing");
    let ready = String::from_utf8(http(server.addr, "GET", "/readyz", &[]).body).expect("utf-8");
    assert!(ready.contains("\"failing\""), "/readyz says so: {ready}");
    assert!(metric(&server, "gitops_live_log_failures_total") >= 1);

    // Space returns: the next publish is kept again, and a restart continues from it.
    std::fs::remove_file(&filler).expect("remove the filler");
    flip(&mut report, 7);
    file.write(&report.to_json_bytes(), Style::AtomicRename);
    follow(&mut connection, &mut state, &report).await;
    eventually(Duration::from_secs(10), || (log_state(&server) == "ok").then_some(()));
    let served = state.cursor.expect("a cursor");
    drop(connection);
    assert!(server.terminate().success());
    let server = start(&file, &state_path);
    let cursor = eventually(Duration::from_secs(10), || server_cursor(&server));
    assert_eq!(cursor, served, "the log followed the server into the epoch it served on in");
    drop(server);
}

#[test]
fn a_damaged_log_is_set_aside_loudly_and_a_bad_state_dir_is_refused_with_a_reason() {
    let state_dir = tempfile::tempdir().expect("a state dir");
    std::fs::write(state_dir.path().join("gitops-live.db"), b"this is not a database, at all")
        .expect("write");
    let file = ReportFile::new(&generate_report(5, 3).to_json_bytes());
    let server = start(&file, state_dir.path().to_str().expect("utf-8"));
    eventually(Duration::from_secs(10), || server_cursor(&server));
    let body = http(server.addr, "GET", "/api/ws/status", &[]).body;
    let status: serde_json::Value = serde_json::from_slice(&body).expect("status JSON");
    let notice = status["log"]["notice"].as_str().unwrap_or_default().to_owned();
    assert!(notice.contains("moved"), "the status says the log was set aside: {status}");
    let moved = std::fs::read_dir(state_dir.path())
        .expect("the state dir")
        .filter_map(Result::ok)
        .any(|entry| entry.file_name().to_string_lossy().contains("corrupt"));
    assert!(moved, "the damaged file is kept beside the new one");
    drop(server);

    // A path that is a file is refused at start with what is wrong (a read-only directory and a
    // newer schema are the store's own tests).
    let not_a_dir = state_dir.path().join("a-file");
    std::fs::write(&not_a_dir, b"x").expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .args(["serve", "--bind", "127.0.0.1:0", "--report", &file.path_str()])
        .args(["--state-dir", not_a_dir.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("state directory") && stderr.contains("a-file"), "{stderr}");
}
