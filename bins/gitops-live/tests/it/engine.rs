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
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let redis = Redis { child, port, _dir: dir };
        eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Some(redis)
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
