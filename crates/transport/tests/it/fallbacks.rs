//! One test per fallback transport (SSE, long-poll, polling): a client gets the state, goes away,
//! changes happen (status flips, repositories added and removed, top-level fields changed), the
//! client comes back with its cursor, and its state then equals the server's. Each runs three
//! gaps: one change, a handful, and more than the server's history holds (so the answer must be a
//! snapshot).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use gitops_client::{Applied, LiveState};
use gitops_diff::same_state;
use gitops_hub::HubConfig;
use gitops_protocol::{Cursor, ServerMessage};
use gitops_report::{Health, Repo, Report, Status};
use gitops_transport::TransportConfig;

use crate::http::{TestServer, get, report};

/// The gaps each transport is taken through: changes made while the client is away.
const GAPS: [usize; 3] = [1, 7, 40];

fn server() -> TestServer {
    // A history of 32 messages, so the 40-change gap cannot be replayed or merged.
    let hub = HubConfig { history_max_messages: 32, ..HubConfig::default() };
    TestServer::start_with_hub(TransportConfig::default(), hub, Some(report(30)))
}

/// The `round`-th change: a status flip, every third round a repository added or removed, every
/// fifth a new health (a top-level field).
fn change(report: &mut Report, round: usize) {
    const STATUSES: [Status; 5] =
        [Status::Clean, Status::Dirty, Status::Missing, Status::Extra, Status::Mismatched];
    let index = (round * 7) % report.repos.len();
    report.repos[index].status = STATUSES[(round + 1) % STATUSES.len()].clone();
    match round % 3 {
        0 => report.repos.push(Repo {
            name: format!("added-{round}"),
            status: Status::Extra,
            ..Repo::default()
        }),
        1 if report.repos.len() > 10 => {
            report.repos.remove(round % report.repos.len());
        }
        _ => {}
    }
    if round.is_multiple_of(5) {
        let health = [Health::Green, Health::Yellow, Health::Red][round % 3].clone();
        report.health_status = Some(health);
    }
}

/// Publishes `n` changes one by one; returns the final report.
fn make_changes(server: &TestServer, mut current: Report, n: usize, first_round: usize) -> Report {
    for round in first_round..first_round + n {
        change(&mut current, round);
        server.publish(current.clone());
    }
    current
}

fn apply_all(state: &mut LiveState, messages: impl IntoIterator<Item = ServerMessage>) {
    for message in messages {
        let applied = state.apply(message).expect("every message applies");
        assert_ne!(applied, Applied::Gap, "the server's answer follows the client's cursor");
    }
}

fn assert_equals_server(state: &LiveState, server: &TestServer, transport: &str, gap: usize) {
    let (cursor, report) = server.live.hub().current().expect("a state");
    assert_eq!(state.cursor, Some(cursor), "{transport}, gap {gap}: cursor");
    let ours = state.report.as_ref().expect("a report");
    assert!(same_state(ours, &report), "{transport}, gap {gap}: the client's state differs");
}

/// Reads Server-Sent Events from `/api/events` (resuming from `last_event_id`) until the state
/// reaches `target`; the connection is then dropped, as a client going away.
fn sse_until(
    addr: SocketAddr,
    last_event_id: Option<Cursor>,
    state: &mut LiveState,
    target: Cursor,
) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let resume = last_event_id.map(|c| format!("Last-Event-ID: {c}\r\n")).unwrap_or_default();
    let request = format!("GET /api/events HTTP/1.1\r\nHost: {addr}\r\n{resume}\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut raw = Vec::new();
    let mut body = ChunkedBody::default();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while state.cursor != Some(target) {
        assert!(Instant::now() < deadline, "SSE did not reach {target}; at {:?}", state.cursor);
        let mut buffer = [0u8; 16 << 10];
        let n = stream.read(&mut buffer).expect("events in time");
        assert!(n > 0, "the stream ended early");
        raw.extend_from_slice(&buffer[..n]);
        text.push_str(&String::from_utf8(body.take(&mut raw)).expect("utf-8 events"));
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|line| line.strip_prefix("data: ")) {
                apply_all(state, [ServerMessage::decode(data.as_bytes()).expect("a message")]);
            }
        }
    }
}

/// Undoes HTTP/1.1 chunked framing incrementally (the head is skipped first).
#[derive(Default)]
struct ChunkedBody {
    past_head: bool,
}

impl ChunkedBody {
    /// Takes every whole chunk's data out of the front of `raw`, leaving any partial one.
    fn take(&mut self, raw: &mut Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.past_head {
            let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return out };
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200") && head.contains("chunked"), "{head}");
            raw.drain(..end + 4);
            self.past_head = true;
        }
        loop {
            let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else { return out };
            let size_text = String::from_utf8_lossy(&raw[..line_end]).trim().to_owned();
            let size = usize::from_str_radix(&size_text, 16).expect("a chunk size");
            if raw.len() < line_end + 2 + size + 2 {
                return out;
            }
            out.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
            raw.drain(..line_end + 2 + size + 2);
        }
    }
}

#[test]
fn sse_reconnecting_with_last_event_id_converges_after_every_gap() {
    let server = server();
    let mut state = LiveState::default();
    let mut current = server.live.hub().current().expect("a state").1.as_ref().clone();
    let first = server.live.hub().cursor().expect("a cursor");
    sse_until(server.addr, None, &mut state, first);
    let mut round = 0;
    for gap in GAPS {
        current = make_changes(&server, current, gap, round);
        round += gap;
        let target = server.live.hub().cursor().expect("a cursor");
        sse_until(server.addr, state.cursor, &mut state, target);
        assert_equals_server(&state, &server, "sse", gap);
    }
}

/// One long-poll: the messages it answered.
fn long_poll(addr: SocketAddr, since: Option<Cursor>) -> Vec<ServerMessage> {
    let path = match since {
        Some(cursor) => format!("/api/updates?since={cursor}"),
        None => "/api/updates".to_owned(),
    };
    let response = get(addr, &path, &[]);
    assert_eq!(response.status, 200, "{path}");
    let messages: Vec<serde_json::Value> = serde_json::from_slice(&response.body).expect("array");
    messages
        .iter()
        .map(|m| ServerMessage::decode(m.to_string().as_bytes()).expect("a message"))
        .collect()
}

#[test]
fn long_poll_with_since_converges_after_every_gap() {
    let server = server();
    let mut state = LiveState::default();
    let mut current = server.live.hub().current().expect("a state").1.as_ref().clone();
    apply_all(&mut state, long_poll(server.addr, None));
    let mut round = 0;
    for gap in GAPS {
        current = make_changes(&server, current, gap, round);
        round += gap;
        // One request brings the whole resume answer (replay, one catch-up, or a snapshot).
        let answer = long_poll(server.addr, state.cursor);
        apply_all(&mut state, answer);
        assert_equals_server(&state, &server, "long-poll", gap);
    }
}

#[test]
fn polling_with_if_none_match_converges_after_every_gap() {
    let server = server();
    let mut state = LiveState::default();
    let mut current = server.live.hub().current().expect("a state").1.as_ref().clone();
    let mut etag = String::new();
    let poll = |state: &mut LiveState, etag: &mut String| {
        let headers: Vec<(&str, &str)> =
            if etag.is_empty() { vec![] } else { vec![("If-None-Match", etag.as_str())] };
        let response = get(server.addr, "/api/audit", &headers);
        if response.status == 304 {
            return false;
        }
        assert_eq!(response.status, 200);
        *etag = response.header("etag").expect("an ETag");
        apply_all(state, [ServerMessage::decode(&response.body).expect("audit-update")]);
        true
    };
    assert!(poll(&mut state, &mut etag), "the first poll gets the state");
    assert!(!poll(&mut state, &mut etag), "nothing changed: 304");
    let mut round = 0;
    for gap in GAPS {
        current = make_changes(&server, current, gap, round);
        round += gap;
        assert!(poll(&mut state, &mut etag), "gap {gap}: a new state, a new ETag");
        assert_equals_server(&state, &server, "polling", gap);
    }
}

#[test]
fn on_shutdown_every_sse_stream_ends_with_its_own_reconnect_delay() {
    const STREAMS: usize = 40;
    let drain = Duration::from_millis(300);
    let config = TransportConfig { drain, ..TransportConfig::default() };
    let server = TestServer::start(config, Some(report(5)));
    let streams: Vec<TcpStream> = (0..STREAMS)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr).expect("connect");
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let request = format!("GET /api/events HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
            stream.write_all(request.as_bytes()).expect("write");
            stream
        })
        .collect();
    let sse_clients = || server.live.connection_status().clients.sse as usize;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sse_clients() < STREAMS {
        assert!(Instant::now() < deadline, "{} of {STREAMS} streams registered", sse_clients());
        std::thread::sleep(Duration::from_millis(10));
    }
    server.live.shutdown();
    let mut delays = Vec::new();
    for mut stream in streams {
        let mut raw = Vec::new();
        // The server ends the stream (the chunked body's last chunk, then the connection).
        stream.read_to_end(&mut raw).expect("the stream ends within the read timeout");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.ends_with("0\r\n\r\n"), "a clean end of the chunked body: {text:?}");
        let last_retry = text
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("retry: "))
            .and_then(|ms| ms.parse::<u64>().ok())
            .expect("a retry field");
        delays.push(last_retry);
    }
    let window = drain.as_millis() as u64;
    assert!(delays.iter().all(|ms| *ms < 2 * window), "within two windows: {delays:?}");
    let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
    assert!(distinct.len() > STREAMS / 2, "each stream draws its own delay: {delays:?}");
    assert!(!delays.contains(&2000), "the closing retry replaces the opening one: {delays:?}");
}
