//! The live core end to end: the real binary watching real files, real WebSocket clients.

use std::time::Duration;

use gitops_client::{Client, ClientConfig, Connection, LiveState};
use gitops_diff::same_state;
use gitops_protocol::{ClientMessage, Cursor, ReportState, ServerMessage};
use gitops_report::{Report, Status, generate_report};
use serde_json::json;

use crate::support::{ReportFile, Server, Style, eventually, http};

const STATUSES: [Status; 5] =
    [Status::Clean, Status::Dirty, Status::Missing, Status::Extra, Status::Mismatched];

/// Reads messages until `done` says the state is right, for at most `limit`.
async fn read_until(
    connection: &mut Connection,
    state: &mut LiveState,
    limit: Duration,
    mut done: impl FnMut(&LiveState) -> bool,
) -> Vec<ServerMessage> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while !done(state) {
        let message = tokio::time::timeout_at(deadline, connection.recv())
            .await
            .expect("the expected state arrives in time")
            .expect("the connection stays healthy")
            .expect("the connection stays open");
        state.apply(message.clone()).expect("every message applies");
        seen.push(message);
    }
    seen
}

/// The first state-bearing message on a connection.
async fn first_state_message(connection: &mut Connection) -> ServerMessage {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), connection.recv())
            .await
            .expect("a message in time")
            .expect("healthy")
            .expect("open");
        if message.cursor().is_some() {
            return message;
        }
    }
}

/// The server's current cursor, from the ETag of `/api/audit`.
fn server_cursor(server: &Server) -> Option<Cursor> {
    let response = http(server.addr, "GET", "/api/audit", &[]);
    (response.status == 200)
        .then(|| response.header("etag").expect("an etag").parse().expect("a cursor"))
}

fn flip(report: &mut Report, index: usize, round: usize) {
    let n = report.repos.len();
    let repo = &mut report.repos[index % n];
    repo.status = STATUSES[round % STATUSES.len()].clone();
    repo.extra.insert("round".to_owned(), json!(round));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_state_of_a_thousand_write_burst_arrives_whatever_the_write_style() {
    let mut report = generate_report(200, 1);
    let mut file = ReportFile::new(&report.to_json_bytes());
    let server = Server::start(&["serve", "--report", &file.path_str()]);
    let mut client = Client::new(ClientConfig::new(server.ws_url()));
    let initial = report.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !client.state().report.as_ref().is_some_and(|r| same_state(r, &initial)) {
        tokio::time::timeout_at(deadline, client.next()).await.expect("the initial report arrives");
    }

    let styles = [Style::InPlace, Style::AtomicRename, Style::SymlinkSwap];
    for round in 0..1000 {
        flip(&mut report, round * 7, round);
        file.write(&report.to_json_bytes(), styles[round % 3]);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !client.state().report.as_ref().is_some_and(|r| same_state(r, &report)) {
        tokio::time::timeout_at(deadline, client.next())
            .await
            .expect("the final state of the burst arrives");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_replays_catches_up_or_sends_a_snapshot() {
    let mut report = generate_report(50, 2);
    let mut file = ReportFile::new(&report.to_json_bytes());
    let server = Server::start(&["serve", "--report", &file.path_str()]);
    let url = server.ws_url();

    // First connection: a snapshot.
    let mut connection = Connection::open(&url, None, None).await.expect("connect");
    let mut state = LiveState::default();
    let snapshot = first_state_message(&mut connection).await;
    assert!(matches!(snapshot, ServerMessage::AuditUpdate { .. }), "first contact is a snapshot");
    state.apply(snapshot).expect("applies");
    let before_gap = state.cursor.expect("cursor");
    drop(connection);

    // A small gap is replayed message by message.
    flip(&mut report, 3, 1);
    file.write(&report.to_json_bytes(), Style::AtomicRename);
    eventually(Duration::from_secs(10), || server_cursor(&server).filter(|c| *c != before_gap));
    let mut connection = Connection::open(&url, Some(before_gap), None).await.expect("reconnect");
    let replayed = first_state_message(&mut connection).await;
    let ServerMessage::RepoStatusChange { seq, .. } = &replayed else {
        panic!("expected a replay, got {replayed:?}")
    };
    assert_eq!(*seq, before_gap.seq + 1, "the replay starts right after the cursor");
    state.apply(replayed).expect("applies");
    read_until(&mut connection, &mut state, Duration::from_secs(10), |s| {
        s.report.as_ref().is_some_and(|r| same_state(r, &report))
    })
    .await;
    let before_long_gap = state.cursor.expect("cursor");
    drop(connection);

    // A long gap that keeps changing the same repositories is merged into one catch-up.
    for round in 0..80 {
        flip(&mut report, round % 3, round);
        report.repos[round % 3].extra.insert("note".to_owned(), json!("x".repeat(300 + round)));
        file.write(&report.to_json_bytes(), Style::InPlace);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // One response carries both the state and its cursor, so they cannot disagree.
    let expected_now = eventually(Duration::from_secs(10), || {
        let response = http(server.addr, "GET", "/api/audit", &[]);
        match ServerMessage::decode(&response.body).ok()? {
            ServerMessage::AuditUpdate { epoch, seq, data } => {
                same_state(&data, &report).then_some(Cursor::new(epoch, seq))
            }
            _ => None,
        }
    });
    let mut connection =
        Connection::open(&url, Some(before_long_gap), None).await.expect("reconnect");
    let merged = first_state_message(&mut connection).await;
    let ServerMessage::CatchUp { seq, data, .. } = &merged else {
        panic!("expected a catch-up, got {merged:?}")
    };
    assert_eq!(data.since, before_long_gap);
    assert_eq!(*seq, expected_now.seq);
    assert!(data.repos.len() <= 3, "one change per repository touched, not one per write");
    state.apply(merged).expect("applies");
    assert!(same_state(state.report.as_ref().expect("state"), &report));
    drop(connection);

    // Another server run has another epoch: the old cursor gets a snapshot.
    drop(server);
    let server = Server::start(&["serve", "--report", &file.path_str()]);
    eventually(Duration::from_secs(10), || server_cursor(&server));
    let mut connection =
        Connection::open(&server.ws_url(), state.cursor, None).await.expect("connect");
    let fresh = first_state_message(&mut connection).await;
    assert!(
        matches!(fresh, ServerMessage::AuditUpdate { .. }),
        "a cursor of another run gets a snapshot, got {fresh:?}"
    );

    let metrics = String::from_utf8(http(server.addr, "GET", "/metrics", &[]).body).expect("utf-8");
    assert!(metrics.contains("gitops_live_resume_total{kind=\"snapshot\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_hold_back_the_others() {
    let mut report = generate_report(1000, 3);
    let mut file = ReportFile::new(&report.to_json_bytes());
    let server = Server::start(&["serve", "--report", &file.path_str()]);
    eventually(Duration::from_secs(10), || server_cursor(&server));

    // A client that completes the handshake and then never reads a byte.
    let mut stalled = std::net::TcpStream::connect(server.addr).expect("connect");
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    std::io::Write::write_all(&mut stalled, handshake.as_bytes()).expect("handshake");

    let mut connection = Connection::open(&server.ws_url(), None, None).await.expect("connect");
    let mut state = LiveState::default();
    read_until(&mut connection, &mut state, Duration::from_secs(10), |s| s.report.is_some()).await;

    // Every write changes every repository: about 200 KB of messages per write per client.
    for round in 0..40 {
        for index in 0..report.repos.len() {
            flip(&mut report, index, round + index);
        }
        file.write(&report.to_json_bytes(), Style::AtomicRename);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    read_until(&mut connection, &mut state, Duration::from_secs(60), |s| {
        s.report.as_ref().is_some_and(|r| same_state(r, &report))
    })
    .await;

    let metrics = String::from_utf8(http(server.addr, "GET", "/metrics", &[]).body).expect("utf-8");
    let conflations: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gitops_live_conflations_total "))
        .and_then(|v| v.parse().ok())
        .expect("the conflation counter");
    assert!(
        conflations >= 1,
        "the stalled client's queue must have been conflated, not grown:\n{metrics}"
    );
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_report_keeps_the_last_good_state_and_says_so_then_recovers() {
    let mut report = generate_report(20, 4);
    let good = report.to_json_bytes();
    let mut file = ReportFile::new(&good);
    let server = Server::start(&["serve", "--report", &file.path_str()]);
    let mut connection = Connection::open(&server.ws_url(), None, None).await.expect("connect");
    let mut state = LiveState::default();
    read_until(&mut connection, &mut state, Duration::from_secs(10), |s| s.report.is_some()).await;
    let good_cursor = state.cursor.expect("cursor");

    let half = &good[..good.len() / 2];
    for (broken, style) in
        [(&b"{ this is not json"[..], Style::InPlace), (half, Style::AtomicRename)]
    {
        file.write(broken, style);
        let messages = read_until(&mut connection, &mut state, Duration::from_secs(10), |s| {
            s.status.as_ref().is_some_and(|status| status.report.state == ReportState::Error)
        })
        .await;
        assert!(
            messages.iter().all(|m| m.cursor().is_none()),
            "nothing state-bearing is pushed for a broken report"
        );
        let status = state.status.clone().expect("status");
        let error = status.report.last_error.expect("an error is reported");
        assert!(error.message.contains("line"), "the error says where: {}", error.message);
        assert_eq!(
            server_cursor(&server),
            Some(good_cursor),
            "the last good report is still served"
        );
        assert_eq!(http(server.addr, "GET", "/readyz", &[]).status, 200);
        let api_status = http(server.addr, "GET", "/api/ws/status", &[]).json();
        assert_eq!(api_status["report"]["state"], "error");
        // Back to a good state before the next kind of breakage.
        file.write(&good, Style::AtomicRename);
        read_until(&mut connection, &mut state, Duration::from_secs(10), |s| {
            s.status.as_ref().is_some_and(|status| status.report.state == ReportState::Ok)
        })
        .await;
    }

    // Deleted, then recreated with a change: the change arrives and the error clears.
    std::fs::remove_file(file.path()).expect("remove the link");
    read_until(&mut connection, &mut state, Duration::from_secs(10), |s| {
        s.status.as_ref().is_some_and(|status| status.report.state == ReportState::Error)
    })
    .await;
    flip(&mut report, 0, 3);
    file.write(&report.to_json_bytes(), Style::SymlinkSwap);
    read_until(&mut connection, &mut state, Duration::from_secs(10), |s| {
        s.report.as_ref().is_some_and(|r| same_state(r, &report))
            && s.status.as_ref().is_some_and(|status| status.report.state == ReportState::Ok)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_any_report_the_server_says_it_is_waiting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("GitRepoReport.json");
    let server = Server::start(&["serve", "--report", &path.display().to_string()]);
    assert_eq!(http(server.addr, "GET", "/readyz", &[]).status, 503);
    assert_eq!(http(server.addr, "GET", "/api/audit", &[]).status, 503);
    let status = http(server.addr, "GET", "/api/ws/status", &[]).json();
    assert_eq!(status["ready"], false);
    assert_eq!(status["report"]["state"], "waiting");

    let mut connection =
        Connection::open(&server.ws_url(), None, None).await.expect("a client may connect early");
    let report = generate_report(5, 5);
    std::fs::write(&path, report.to_json_bytes()).expect("write");
    let mut state = LiveState::default();
    read_until(&mut connection, &mut state, Duration::from_secs(10), |s| {
        s.report.as_ref().is_some_and(|r| same_state(r, &report))
    })
    .await;
    assert_eq!(http(server.addr, "GET", "/readyz", &[]).status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_dashboards_messages_are_answered() {
    let report = generate_report(10, 6);
    let file = ReportFile::new(&report.to_json_bytes());
    let server = Server::start(&["serve", "--report", &file.path_str()]);
    let mut connection = Connection::open(&server.ws_url(), None, None).await.expect("connect");
    first_state_message(&mut connection).await;

    async fn next_of(connection: &mut Connection, kind: &str) -> ServerMessage {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), connection.recv())
                .await
                .expect("an answer in time")
                .expect("healthy")
                .expect("open");
            let matches = matches!(
                (&message, kind),
                (ServerMessage::Pong { .. }, "pong")
                    | (ServerMessage::AuditUpdate { .. }, "audit-update")
                    | (ServerMessage::ConnectionStatus { .. }, "connection-status")
                    | (ServerMessage::Error { .. }, "error")
            );
            if matches {
                return message;
            }
        }
    }
    connection.send(&ClientMessage::Ping { ts: Some(json!(1234)) }).await.expect("send");
    let ServerMessage::Pong { data } = next_of(&mut connection, "pong").await else {
        unreachable!()
    };
    assert_eq!(data.ts, Some(json!(1234)));
    connection.send(&ClientMessage::RequestUpdate).await.expect("send");
    let ServerMessage::AuditUpdate { data, .. } = next_of(&mut connection, "audit-update").await
    else {
        unreachable!()
    };
    assert!(same_state(&data, &report));
    connection.send(&ClientMessage::GetStatus).await.expect("send");
    let ServerMessage::ConnectionStatus { data } =
        next_of(&mut connection, "connection-status").await
    else {
        unreachable!()
    };
    assert_eq!(data.clients.ws, 1);

    // Unknown and malformed messages get an error, and the connection stays open.
    for (raw, code) in [(r#"{"type":"subscribe"}"#, "unknown-type"), ("not json", "bad-message")] {
        send_raw(&mut connection, raw).await;
        let ServerMessage::Error { data } = next_of(&mut connection, "error").await else {
            unreachable!()
        };
        assert_eq!(serde_json::to_value(data.code).expect("code"), json!(code));
    }
    connection.send(&ClientMessage::Ping { ts: None }).await.expect("still open");
    next_of(&mut connection, "pong").await;
}

async fn send_raw(connection: &mut Connection, text: &str) {
    // The typed client cannot send malformed messages; this sends the text as it is.
    connection.send_text(text).await.expect("send raw text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_need_the_token() {
    let report = generate_report(3, 7);
    let file = ReportFile::new(&report.to_json_bytes());
    let token = "correct-horse-battery-staple";
    let server = Server::start_with_env(
        &["serve", "--report", &file.path_str()],
        &[("GITOPS_ADMIN_TOKEN", token)],
    );
    let bearer = format!("Bearer {token}");
    for (method, path) in [("POST", "/api/ws/trigger-update"), ("GET", "/api/ws/clients")] {
        assert_eq!(http(server.addr, method, path, &[]).status, 401, "{path} without a token");
        assert_eq!(
            http(
                server.addr,
                method,
                path,
                &[("Authorization", "Bearer wrong-token-of-some-length")]
            )
            .status,
            401
        );
        assert_eq!(
            http(server.addr, method, &format!("{path}?token={token}"), &[]).status,
            401,
            "never from the URL"
        );
    }
    let triggered =
        http(server.addr, "POST", "/api/ws/trigger-update", &[("Authorization", &bearer)]);
    assert_eq!(triggered.status, 202);
    let again = http(server.addr, "POST", "/api/ws/trigger-update", &[("Authorization", &bearer)]);
    assert_eq!(again.status, 429, "triggers are rate-limited");
    assert!(again.header("retry-after").is_some());
    let clients = http(server.addr, "GET", "/api/ws/clients", &[("Authorization", &bearer)]);
    assert_eq!(clients.status, 200);
    assert_eq!(clients.json()["counts"]["ws"], 0);

    // Without a configured token the admin endpoints are off.
    let open = Server::start(&["serve", "--report", &file.path_str()]);
    assert_eq!(
        http(open.addr, "POST", "/api/ws/trigger-update", &[("Authorization", &bearer)]).status,
        403
    );
}

#[test]
fn viewer_sign_in_flags_protect_the_report_and_refuse_weak_tokens() {
    let report = generate_report(3, 9);
    let file = ReportFile::new(&report.to_json_bytes());
    let dir = tempfile::tempdir().expect("a temp dir");
    let weak = dir.path().join("weak");
    std::fs::write(&weak, "short\n").expect("write");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .args(["serve", "--report", &file.path_str(), "--bind", "127.0.0.1:0"])
        .arg("--viewer-token-file")
        .arg(&weak)
        .output()
        .expect("the binary runs");
    assert!(!refused.status.success(), "a weak viewer token stops the server");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("shorter than 16 characters"), "{stderr}");
    assert!(!stderr.contains("short\n"), "the token is not echoed");

    let token = "viewer-sign-in-token-42";
    let token_file = dir.path().join("viewer-token");
    std::fs::write(&token_file, format!("{token}\n")).expect("write");
    let token_path = token_file.display().to_string();
    let server = Server::start(&[
        "serve",
        "--report",
        &file.path_str(),
        "--viewer-token-file",
        &token_path,
        "--viewer-proxy-header",
        "X-Forwarded-User",
    ]);
    assert_eq!(http(server.addr, "GET", "/api/audit", &[]).status, 401);
    let bearer = format!("Bearer {token}");
    eventually(Duration::from_secs(10), || {
        let status = http(server.addr, "GET", "/api/audit", &[("Authorization", &bearer)]).status;
        // 503 until the first report has loaded.
        (status != 503).then_some(()).inspect(|()| assert_eq!(status, 200, "the viewer token"))
    });
    let by_proxy = http(server.addr, "GET", "/api/session", &[("X-Forwarded-User", "bob")]);
    assert_eq!(by_proxy.json()["user"], "bob", "loopback is a trusted proxy by default");
    assert_eq!(by_proxy.json()["methods"], json!(["proxy", "token"]));
    assert_eq!(http(server.addr, "GET", "/", &[]).status, 200, "the sign-in page loads");
}

/// The README's run command is `demo`: stopping it (SIGTERM here, Ctrl-C alike) must end it,
/// while its simulator keeps writing the report.
#[test]
fn the_demo_stops_on_sigterm_while_it_writes() {
    let server = Server::start(&["demo", "--interval-ms", "50"]);
    eventually(Duration::from_secs(10), || {
        let status = http(server.addr, "GET", "/api/ws/status", &[]).json();
        // A few writes have landed: the simulator is running.
        (status["cursor"].as_str()?.rsplit(':').next()?.parse::<u64>().ok()? >= 3).then_some(())
    });
    let status = server.terminate();
    assert!(status.success(), "the demo exits cleanly: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_clients_with_1001_and_a_reconnect_delay() {
    let report = generate_report(3, 8);
    let file = ReportFile::new(&report.to_json_bytes());
    let server = Server::start(&["serve", "--report", &file.path_str(), "--drain-window", "1s"]);
    let mut connection = Connection::open(&server.ws_url(), None, None).await.expect("connect");
    first_state_message(&mut connection).await;
    let terminate = tokio::task::spawn_blocking(move || server.terminate());
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), connection.recv())
            .await
            .expect("closed in time")
        {
            Ok(Err(closed)) => break closed,
            Ok(Ok(_)) => continue,
            Err(error) => panic!("expected a close frame, got {error}"),
        }
    };
    assert_eq!(closed.code, Some(1001));
    let retry = closed.retry_after.expect("the close reason carries retry-ms");
    // The rest of a 1 s window plus a draw from the next one.
    assert!(retry < Duration::from_secs(2), "{retry:?} from {:?}", closed.reason);
    let status = terminate.await.expect("join");
    assert!(status.success(), "a graceful exit: {status:?}");
}
