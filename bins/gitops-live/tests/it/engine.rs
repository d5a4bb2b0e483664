//! Several instances on one Redis (`serve --engine`): a private redis-server on a free port, three
//! real servers, real WebSocket clients. One change reaches the clients of every instance with the
//! same cursor; when the writer is killed, another takes over and changes keep flowing.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gitops_client::{Connection, LiveState};
use gitops_protocol::Cursor;
use gitops_report::Status;
use serde_json::json;

use crate::support::{Log, ReportFile, Server, Style, eventually, http};

/// A redis-server of the test's own, stopped by its PID.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Option<Redis> {
        if Command::new("redis-server").arg("--version").output().is_err() {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let dir = tempfile::tempdir().ok()?;
        let child = Self::spawn(port, dir.path())?;
        Some(Redis { child, port, _dir: dir })
    }

    fn spawn(port: u16, dir: &std::path::Path) -> Option<Child> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Some(child)
    }

    /// Kills it (-9) and starts an empty one on the same port: what a restart without
    /// persistence looks like to the instances.
    fn restart_empty(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(self.port, self._dir.path()).expect("redis restarts");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn report(statuses: &[(&str, &str)]) -> Vec<u8> {
    let repos: Vec<_> = statuses.iter().map(|(n, s)| json!({ "name": n, "status": s })).collect();
    json!({ "repos": repos }).to_string().into_bytes()
}

fn status_of(state: &LiveState, name: &str) -> Option<Status> {
    state.report.as_ref()?.repos.iter().find(|r| r.name == name).map(|r| r.status.clone())
}

/// Reads `connection` until `name` has `want`; the cursor it got there with.
async fn until(
    connection: &mut Connection,
    state: &mut LiveState,
    name: &str,
    want: Status,
) -> Cursor {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while status_of(state, name) != Some(want.clone()) {
        let message = tokio::time::timeout_at(deadline, connection.recv())
            .await
            .unwrap_or_else(|_| panic!("{name} did not become {want} in time"))
            .expect("healthy")
            .expect("open");
        state.apply(message).expect("applies");
    }
    state.cursor.expect("a cursor")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_serve_one_stream_and_a_new_writer_takes_over() {
    let Some(redis) = Redis::start() else {
        panic!("redis-server is missing: .ci/run installs it (apt-get install redis-server)");
    };
    let mut file = ReportFile::new(&report(&[("halo", "clean"), ("nova", "clean")]));
    let (path, url) = (file.path_str(), redis.url());
    let env = [("RUST_LOG", "info")];
    let args = ["serve", "--report", &path, "--engine", &url, "--engine-lease", "1s"];
    let mut servers: Vec<(Server, Log)> =
        (0..3).map(|_| Server::start_logging(&args, &env)).collect();
    for (server, _) in &servers {
        let addr = server.addr;
        eventually(Duration::from_secs(20), || {
            (http(addr, "GET", "/readyz", &[]).status == 200).then_some(())
        });
    }
    // One writer among them.
    let writer = eventually(Duration::from_secs(20), || {
        servers.iter().position(|(_, log)| log.text().contains("this instance is the writer now"))
    });
    let mut clients = Vec::new();
    for (server, _) in &servers {
        let mut connection = Connection::open(&server.ws_url(), None, None).await.expect("ws");
        let mut state = LiveState::default();
        until(&mut connection, &mut state, "halo", Status::Clean).await;
        clients.push((connection, state));
    }

    // One change, once: every instance's client gets it, at the same cursor.
    file.write(&report(&[("halo", "missing"), ("nova", "clean")]), Style::AtomicRename);
    let mut cursors = Vec::new();
    for (connection, state) in &mut clients {
        cursors.push(until(connection, state, "halo", Status::Missing).await);
    }
    assert!(cursors.windows(2).all(|w| w[0] == w[1]), "one stream, one cursor: {cursors:?}");

    // The writer dies (kill -9); another takes the lease and publishes the next change.
    let (dead, _) = servers.remove(writer);
    drop(dead);
    clients.remove(writer);
    let new_writer = eventually(Duration::from_secs(20), || {
        servers.iter().position(|(_, log)| log.text().contains("this instance is the writer now"))
    });
    file.write(&report(&[("halo", "missing"), ("nova", "dirty")]), Style::AtomicRename);
    let mut after = Vec::new();
    for (connection, state) in &mut clients {
        after.push(until(connection, state, "nova", Status::Dirty).await);
    }
    assert!(after.windows(2).all(|w| w[0] == w[1]), "still one stream: {after:?}");
    assert_eq!(after[0].epoch, cursors[0].epoch, "the new writer continues the same epoch");
    assert!(after[0].seq > cursors[0].seq);
    let _ = new_writer;
}

/// The messages of one long-poll answer.
fn long_poll(
    addr: std::net::SocketAddr,
    since: Option<Cursor>,
) -> Vec<gitops_protocol::ServerMessage> {
    let path = match since {
        Some(cursor) => format!("/api/updates?since={cursor}"),
        None => "/api/updates".to_owned(),
    };
    let response = http(addr, "GET", &path, &[]);
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    let values: Vec<serde_json::Value> =
        serde_json::from_slice(&response.body).expect("a JSON array");
    values
        .into_iter()
        .map(|v| {
            gitops_protocol::ServerMessage::decode(v.to_string().as_bytes()).expect("a message")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_client_alternating_between_instances_stays_exact_and_redis_restarting_empty_is_one_snapshot()
 {
    let Some(mut redis) = Redis::start() else {
        panic!("redis-server is missing: .ci/run installs it (apt-get install redis-server)");
    };
    let mut file =
        ReportFile::new(&report(&[("halo", "clean"), ("nova", "clean"), ("vega", "clean")]));
    let (path, url) = (file.path_str(), redis.url());
    let args = ["serve", "--report", &path, "--engine", &url, "--engine-lease", "1s"];
    let servers: Vec<Server> = (0..3).map(|_| Server::start(&args)).collect();
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    for addr in &addrs {
        eventually(Duration::from_secs(20), || {
            (http(*addr, "GET", "/readyz", &[]).status == 200).then_some(())
        });
    }
    // No sticky sessions: each request goes to the next instance.
    let mut state = LiveState::default();
    let mut snapshots = 0;
    let poll = |i: usize, state: &mut LiveState, snapshots: &mut usize| {
        for message in long_poll(addrs[i % 3], state.cursor) {
            if matches!(message, gitops_protocol::ServerMessage::AuditUpdate { .. }) {
                *snapshots += 1;
            }
            state.apply(message).expect("applies");
        }
    };
    poll(0, &mut state, &mut snapshots);
    let names = ["halo", "nova", "vega"];
    for step in 1..=6 {
        let statuses: Vec<(&str, &str)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, if (step + i) % 2 == 0 { "dirty" } else { "clean" }))
            .collect();
        file.write(&report(&statuses), Style::AtomicRename);
        let want: Vec<(String, Status)> = statuses
            .iter()
            .map(|(n, s)| {
                ((*n).to_owned(), if *s == "dirty" { Status::Dirty } else { Status::Clean })
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut i = step;
        loop {
            let now: Vec<(String, Status)> = names
                .iter()
                .map(|n| ((*n).to_owned(), status_of(&state, n).expect("known")))
                .collect();
            if now == want {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "step {step}: {now:?} is not {want:?}");
            poll(i, &mut state, &mut snapshots);
            i += 1;
        }
    }
    assert_eq!(snapshots, 1, "only the first answer is a snapshot; the rest are exact replays");

    // Redis restarts empty: the instances notice, a new epoch begins with the state served, and a
    // client following along gets one snapshot of it, then changes again.
    let before = state.cursor.expect("a cursor");
    redis.restart_empty();
    let epoch_moved = eventually(Duration::from_secs(30), || {
        let status = http(addrs[0], "GET", "/api/ws/status", &[]).json();
        let cursor: Cursor = status["cursor"].as_str()?.parse().ok()?;
        (cursor.epoch != before.epoch).then_some(cursor)
    });
    for addr in &addrs {
        eventually(Duration::from_secs(30), || {
            let status = http(*addr, "GET", "/api/ws/status", &[]).json();
            (status["cursor"].as_str()? == epoch_moved.to_string()).then_some(())
        });
    }
    snapshots = 0;
    poll(1, &mut state, &mut snapshots);
    assert_eq!(snapshots, 1, "one snapshot of the new epoch");
    assert_eq!(state.cursor.map(|c| c.epoch), Some(epoch_moved.epoch));
    file.write(
        &report(&[("halo", "missing"), ("nova", "clean"), ("vega", "clean")]),
        Style::AtomicRename,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut i = 2;
    while status_of(&state, "halo") != Some(Status::Missing) {
        assert!(std::time::Instant::now() < deadline, "changes flow again after the restart");
        poll(i, &mut state, &mut snapshots);
        i += 1;
    }
    drop(servers);
}
