//! Hostile and broken clients found by outside testing: DNS rebinding, SSE clients that never
//! read, floods that must see their close frame, protocol errors that must be named, and heads
//! that break the rules. Each test failed before its fix.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use gitops_protocol::{Applied, LiveState, ServerMessage};
use gitops_report::{Report, Status};
use gitops_transport::TransportConfig;

use crate::http::{Response, TestServer, report};

/// Sends `head` (request line and headers, without the blank line) as written, and reads the
/// answer until the server closes.
fn send_head(addr: SocketAddr, head: &str) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    stream.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes()).expect("write");
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = bytes.get(split + 4..).map(<[u8]>::to_vec).unwrap_or_default();
    Response { status, head, body }
}

const UPGRADE_HEADERS: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

/// Every data endpoint and the upgrade, as a page on a rebinding name asks for them.
const DATA_PATHS: [&str; 7] =
    ["/ws", "/api/audit", "/audit", "/api/ws/status", "/api/events", "/api/updates", "/"];

#[test]
fn a_rebinding_name_is_refused_on_every_endpoint_and_the_upgrade() {
    let server = TestServer::start(TransportConfig::default(), Some(report(5)));
    let addr = server.addr;
    let port = addr.port();
    let name = report(5).repos[0].name.clone();
    for path in DATA_PATHS {
        let extra = if path == "/ws" { UPGRADE_HEADERS } else { "X-Nothing: 1" };
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: rebind.attacker.example:{port}\r\nOrigin: http://rebind.attacker.example:{port}\r\n{extra}"
        );
        let response = send_head(addr, &head);
        assert_eq!(response.status, 421, "{path}: {}", response.head);
        let body = String::from_utf8_lossy(&response.body);
        assert!(!body.contains(&name), "{path} leaked the report: {body}");
        assert!(body.contains("--allowed-host"), "{path}: the refusal says what to do: {body}");
    }
    // The same requests by this server's own names are served.
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let response = send_head(addr, &format!("GET /api/audit HTTP/1.1\r\nHost: {host}"));
        assert_eq!(response.status, 200, "{host}");
    }
    // Missing, duplicated and malformed Host headers are refused, not served.
    let bad = [
        "GET /api/audit HTTP/1.1".to_owned(),
        format!("GET /api/audit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: 127.0.0.1:{port}"),
        "GET /api/audit HTTP/1.1\r\nHost: user@127.0.0.1".to_owned(),
        "GET /api/audit HTTP/1.1\r\nHost: 127.0.0.1:70000".to_owned(),
        format!(
            "GET http://rebind.attacker.example:{port}/api/audit HTTP/1.1\r\nHost: 127.0.0.1:{port}"
        ),
    ];
    for head in &bad {
        let response = send_head(addr, head);
        assert_eq!(response.status, 400, "{head:?}: {}", response.head);
        assert!(!String::from_utf8_lossy(&response.body).contains(&name));
    }
    let metrics = crate::http::get(addr, "/metrics", &[]);
    let text = String::from_utf8_lossy(&metrics.body);
    let refused = text
        .lines()
        .find_map(|l| l.strip_prefix("gitops_live_host_refused_total "))
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(refused, Some((DATA_PATHS.len() + bad.len()) as u64));
}

#[test]
fn a_configured_name_passes_and_its_origin_may_open_a_websocket() {
    let config = TransportConfig {
        allowed_hosts: vec!["dash.example.org".into(), "*.home.arpa".into()],
        allowed_origins: vec!["https://proxy.example.net".into()],
        ..TransportConfig::default()
    };
    let server = TestServer::start(config, Some(report(5)));
    let addr = server.addr;
    let port = addr.port();
    for host in ["dash.example.org", "nas.home.arpa", "proxy.example.net"] {
        let head = format!("GET /api/audit HTTP/1.1\r\nHost: {host}:{port}");
        assert_eq!(send_head(addr, &head).status, 200, "{host}");
    }
    for (origin, expected) in [
        (format!("http://dash.example.org:{port}"), 101),
        ("https://proxy.example.net".to_owned(), 101),
        (format!("http://dash.example.org:{}", port + 1), 403),
        (format!("http://evil.example:{port}"), 403),
    ] {
        let head = format!(
            "GET /ws HTTP/1.1\r\nHost: dash.example.org:{port}\r\nOrigin: {origin}\r\n{UPGRADE_HEADERS}"
        );
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        stream.write_all(format!("{head}\r\n\r\n").as_bytes()).expect("write");
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).expect("a status line");
        let status: u16 = String::from_utf8_lossy(&first[9..12]).parse().expect("a status");
        assert_eq!(status, expected, "{origin}");
    }
}

/// A report whose every repository carries a large field, so each change is large.
fn heavy(n: usize, round: usize) -> Report {
    let mut report = report(n);
    for repo in &mut report.repos {
        repo.extra.insert(
            "notes".into(),
            serde_json::Value::String(format!("{round}-{}", "y".repeat(16 << 10))),
        );
        repo.status = if round.is_multiple_of(2) { Status::Dirty } else { Status::Clean };
    }
    report
}

fn status_count(addr: SocketAddr, transport: &str) -> u64 {
    let response = crate::http::get(addr, "/api/ws/status", &[]);
    let status: serde_json::Value = serde_json::from_slice(&response.body).expect("status JSON");
    status["clients"][transport].as_u64().expect("a count")
}

#[test]
fn sse_clients_that_never_read_are_disconnected_by_the_write_deadline() {
    const N: usize = 20;
    let config =
        TransportConfig { write_timeout: Duration::from_millis(500), ..TransportConfig::default() };
    let server = TestServer::start(config, Some(heavy(30, 0)));
    let addr = server.addr;
    let sockets: Vec<tokio::net::TcpStream> = server.runtime.block_on(async {
        let mut sockets = Vec::new();
        for _ in 0..N {
            let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
            // A small receive window, so the server's writes block soon.
            socket.set_recv_buffer_size(4096).expect("a buffer size");
            let mut stream = socket.connect(addr).await.expect("connect");
            use tokio::io::AsyncWriteExt as _;
            let head = format!(
                "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await.expect("write");
            sockets.push(stream);
        }
        sockets
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_count(addr, "sse") < N as u64 {
        assert!(Instant::now() < deadline, "the SSE clients never registered");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Each round changes every repository: about half a megabyte per client per round, far more
    // than the socket buffers hold.
    let mut round = 1;
    let deadline = Instant::now() + Duration::from_secs(60);
    while status_count(addr, "sse") > 0 {
        assert!(
            Instant::now() < deadline,
            "{} never-reading SSE clients still hold their slots",
            status_count(addr, "sse")
        );
        if round < 40 {
            server.publish(heavy(30, round));
            round += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = crate::http::get(addr, "/metrics", &[]);
    let text = String::from_utf8_lossy(&metrics.body);
    let timeouts = text
        .lines()
        .find_map(|l| l.strip_prefix("gitops_live_write_timeouts_total "))
        .and_then(|n| n.parse::<u64>().ok())
        .expect("the write-timeout counter");
    assert!(timeouts >= N as u64, "{timeouts} write timeouts counted for {N} clients");
    drop(sockets);
}

/// A raw WebSocket client: the handshake written by hand, frames read by hand, so a test can
/// send what no library would and see exactly what comes back.
struct RawWs {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawWs {
    fn connect(addr: SocketAddr) -> RawWs {
        let stream = TcpStream::connect(addr).expect("connect");
        Self::handshake(stream, addr, &[])
    }

    /// Upgrades `stream`, sending `first_frames` in the same write as the request.
    fn handshake(mut stream: TcpStream, addr: SocketAddr, first_frames: &[u8]) -> RawWs {
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let head = format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\n{UPGRADE_HEADERS}\r\n\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(first_frames);
        stream.write_all(&request).expect("write the handshake");
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            let n = stream.read(&mut chunk).expect("read the handshake");
            assert!(n > 0, "closed during the handshake");
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        assert!(buffer.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&buffer));
        buffer.drain(..end);
        RawWs { stream, buffer }
    }

    /// A client frame: FIN, `first_byte`'s flags and opcode, masked unless `unmasked`.
    fn frame(first_byte: u8, payload: &[u8], unmasked: bool) -> Vec<u8> {
        let mut frame = vec![first_byte];
        let mask_bit = if unmasked { 0 } else { 0x80 };
        match payload.len() {
            n if n < 126 => frame.push(mask_bit | n as u8),
            n => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        if unmasked {
            frame.extend_from_slice(payload);
        } else {
            let mask = [0x12, 0x34, 0x56, 0x78];
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
        frame
    }

    /// Reads frames until a close frame (its code, or 0 when it has none), the end of the stream
    /// (`Err("eof")`) or a reset (`Err("reset")`).
    fn read_until_close(&mut self) -> Result<u16, &'static str> {
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            if let Some(code) = self.parse_close() {
                return Ok(code);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("eof"),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Err("reset"),
                Err(e) => panic!("reading: {e}"),
            }
        }
    }

    /// Reads past a close frame until the end: `"eof"` for an orderly end, `"reset"` otherwise.
    fn read_to_end(&mut self) -> &'static str {
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return "eof",
                Ok(_) => {}
                Err(_) => return "reset",
            }
        }
    }

    /// Reads the next whole frame: its first byte (FIN and opcode) and its payload. Reads
    /// `chunk` bytes at a time, sleeping `pause` before each read (a slow reader).
    fn read_frame(&mut self, chunk: usize, pause: Duration) -> (u8, Vec<u8>) {
        let mut buf = vec![0u8; chunk];
        loop {
            let b = &self.buffer;
            if b.len() >= 2 {
                let (len, header) = match b[1] & 0x7f {
                    126 if b.len() >= 4 => (Some(u16::from_be_bytes([b[2], b[3]]) as usize), 4),
                    127 if b.len() >= 10 => (
                        Some(u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")) as usize),
                        10,
                    ),
                    126 | 127 => (None, 0),
                    n => (Some(n as usize), 2),
                };
                assert_eq!(b[1] & 0x80, 0, "server frames are never masked");
                if let Some(len) = len.filter(|len| b.len() >= header + len) {
                    let first = b[0];
                    let payload = b[header..header + len].to_vec();
                    self.buffer.drain(..header + len);
                    return (first, payload);
                }
            }
            std::thread::sleep(pause);
            let n = self.stream.read(&mut buf).expect("read a frame");
            assert!(n > 0, "the server closed before a whole frame");
            self.buffer.extend_from_slice(&buf[..n]);
        }
    }

    /// Reads whole messages (joining continuation frames, skipping control frames) until one
    /// contains `needle`; returns it.
    fn read_message_with(&mut self, needle: &str, chunk: usize, pause: Duration) -> String {
        let mut message = Vec::new();
        for _ in 0..1_000 {
            let (first, payload) = self.read_frame(chunk, pause);
            if first & 0x08 != 0 {
                assert_ne!(first & 0x0f, 0x8, "closed: {:?}", String::from_utf8_lossy(&payload));
                continue;
            }
            message.extend_from_slice(&payload);
            if first & 0x80 != 0 {
                let text = String::from_utf8(std::mem::take(&mut message)).expect("UTF-8");
                if text.contains(needle) {
                    return text;
                }
            }
        }
        panic!("no message with {needle:?} in 1,000 frames");
    }

    /// Drops whole frames from the buffer; returns a close frame's code when one is reached.
    fn parse_close(&mut self) -> Option<u16> {
        loop {
            let b = &self.buffer;
            if b.len() < 2 {
                return None;
            }
            let (len, header) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                127 if b.len() >= 10 => {
                    (u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")) as usize, 10)
                }
                126 | 127 => return None,
                n => (n as usize, 2),
            };
            if b.len() < header + len {
                return None;
            }
            if b[0] & 0x0f == 0x8 {
                let payload = &b[header..header + len];
                return Some(if payload.len() >= 2 {
                    u16::from_be_bytes([payload[0], payload[1]])
                } else {
                    0
                });
            }
            self.buffer.drain(..header + len);
        }
    }
}

#[test]
fn a_flooding_client_always_receives_its_1008_close_and_a_clean_end() {
    const TRIES: usize = 20;
    let server = TestServer::start(TransportConfig::default(), Some(report(5)));
    let message = br#"{"type":"get-status"}"#;
    let flood: Vec<u8> =
        (0..10_000).flat_map(|_| RawWs::frame(0x81, message, false)).collect::<Vec<u8>>();
    let mut outcomes = Vec::new();
    for _ in 0..TRIES {
        let mut ws = RawWs::connect(server.addr);
        // One write: the server's receive buffer holds most of it when the limit is hit.
        let wrote = ws.stream.write_all(&flood).map_err(|e| e.kind());
        let close = ws.read_until_close();
        // Answer the close, as a client does, then the server's side must end with a FIN, not
        // a reset that can overtake what it sent before.
        let answered = ws.stream.write_all(&RawWs::frame(0x88, &1000u16.to_be_bytes(), false));
        let after = ws.read_to_end();
        outcomes.push((wrote, close, answered.is_ok(), after));
    }
    let clean = outcomes.iter().filter(|o| **o == (Ok(()), Ok(1008), true, "eof")).count();
    assert_eq!(clean, TRIES, "outcomes (write, close code, close answered, end): {outcomes:?}");
}

#[test]
fn protocol_errors_are_closed_with_1007_or_1002() {
    let server = TestServer::start(TransportConfig::default(), Some(report(3)));
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("invalid UTF-8 in a text frame", RawWs::frame(0x81, &[0xff, 0xfe, 0x41], false), 1007),
        ("reserved bit set without an extension", RawWs::frame(0xC1, b"{}", false), 1002),
        ("an unmasked client frame", RawWs::frame(0x81, b"{}", true), 1002),
        ("an unknown opcode", RawWs::frame(0x83, b"{}", false), 1002),
    ];
    for (what, frame, expected) in cases {
        let mut ws = RawWs::connect(server.addr);
        ws.stream.write_all(&frame).expect("write");
        assert_eq!(ws.read_until_close(), Ok(expected), "{what}");
    }
}

#[test]
fn an_http_1_0_upgrade_is_refused() {
    let server = TestServer::start(TransportConfig::default(), Some(report(3)));
    let addr = server.addr;
    let head = format!("GET /ws HTTP/1.0\r\nHost: {addr}\r\n{UPGRADE_HEADERS}");
    let response = send_head(addr, &head);
    assert_eq!(response.status, 505, "{}", response.head);
}

#[test]
fn the_configured_header_limit_is_the_real_one() {
    let server = TestServer::start(TransportConfig::default(), Some(report(3)));
    let addr = server.addr;
    let headers = |total: usize| {
        let line = "x".repeat(1000);
        (0..total / 1000).map(|i| format!("X-Filler-{i}: {line}")).collect::<Vec<_>>().join("\r\n")
    };
    let under =
        send_head(addr, &format!("GET /api/audit HTTP/1.1\r\nHost: {addr}\r\n{}", headers(60_000)));
    assert_eq!(under.status, 200, "60 KB of headers is within the 64 KiB limit");
    let over =
        send_head(addr, &format!("GET /api/audit HTTP/1.1\r\nHost: {addr}\r\n{}", headers(80_000)));
    assert_eq!(over.status, 431, "80 KB of headers is over the 64 KiB limit: {}", over.head);
}

#[test]
fn frames_sent_with_the_handshake_are_not_lost() {
    // A client may send its first frames before it has seen the 101: hyper reads them with the
    // request, and the session must start from them.
    let server = TestServer::start(TransportConfig::default(), Some(report(3)));
    let ping = RawWs::frame(0x81, br#"{"type":"ping","ts":424242}"#, false);
    let stream = TcpStream::connect(server.addr).expect("connect");
    let mut ws = RawWs::handshake(stream, server.addr, &ping);
    let pong = ws.read_message_with("424242", 64 << 10, Duration::ZERO);
    assert!(pong.contains(r#""type":"pong""#), "{pong}");
}

#[test]
fn a_slow_reader_with_a_small_receive_buffer_gets_a_large_snapshot_intact() {
    // 16,000 repositories: a snapshot of ~8.8 MB, more than a socket's send buffer can grow to
    // here (4 MiB, net.ipv4.tcp_wmem), behind a 4 KiB receive buffer read 4 KiB at a time with
    // pauses: the server's writes stop part-way and must go on where they stopped (with 3,000
    // repositories the kernel took the whole snapshot in one write, and a writer that dropped
    // the rest of a partial write still passed).
    let n = 16_000;
    let server = TestServer::start(TransportConfig::default(), Some(report(n)));
    let mut ws = small_window_client(&server);
    std::thread::sleep(Duration::from_millis(200));
    let snapshot = ws.read_message_with("audit-update", 4 << 10, Duration::from_micros(50));
    assert!(snapshot.len() > 5_000_000, "{} bytes", snapshot.len());
    let value: serde_json::Value = serde_json::from_str(&snapshot).expect("the snapshot is JSON");
    let repos = value["data"]["repos"].as_array().or_else(|| value["data"].as_array());
    assert_eq!(repos.map(Vec::len), Some(n), "{}", &snapshot[..200]);
    // The connection goes on: a change reaches the slow client after the snapshot.
    let mut changed = report(n);
    changed.repos[7].status =
        if changed.repos[7].status == Status::Dirty { Status::Clean } else { Status::Dirty };
    server.publish(changed);
    let change = ws.read_message_with("repo-status-change", 4 << 10, Duration::ZERO);
    assert!(change.contains(&report(n).repos[7].name), "{change}");
}

#[test]
fn a_ping_flood_is_answered_and_the_connection_goes_on() {
    // 20,000 pings at once: pings are not messages (no 1008 for the rate), tungstenite keeps at
    // most one unsent pong however fast they come, and the session still answers a message.
    let server = TestServer::start(TransportConfig::default(), Some(report(3)));
    let mut ws = RawWs::connect(server.addr);
    let mut flood: Vec<u8> =
        (0..20_000).flat_map(|_| RawWs::frame(0x89, b"hello", false)).collect();
    flood.extend(RawWs::frame(0x81, br#"{"type":"ping","ts":777}"#, false));
    // Written from a thread while this one reads, so neither side's full buffers block the other.
    let mut writer = ws.stream.try_clone().expect("clone the socket");
    let flooding = std::thread::spawn(move || writer.write_all(&flood).map_err(|e| e.kind()));
    let mut pongs = 0;
    let answer = loop {
        let (first, payload) = ws.read_frame(64 << 10, Duration::ZERO);
        match first & 0x0f {
            0xA => {
                assert_eq!(payload, b"hello");
                pongs += 1;
            }
            0x8 => panic!("closed: {:?}", String::from_utf8_lossy(&payload)),
            _ if String::from_utf8_lossy(&payload).contains("777") => break payload,
            _ => {}
        }
    };
    assert_eq!(flooding.join().expect("the writer thread"), Ok(()));
    assert!(pongs >= 1, "the pings were answered");
    assert!(String::from_utf8_lossy(&answer).contains(r#""type":"pong""#));
}

#[test]
fn a_client_that_stops_reading_gets_every_change_whole_and_in_order_when_it_reads_again() {
    // Changes of 40 repositories of ~16 KB each: fewer messages than the publisher's batch, so
    // the publisher writes them to an idle client itself. The client stops reading after its
    // snapshot; the first change fills its socket and the publisher's write is cut inside a
    // frame; the session must finish that frame before anything else, and later changes wait
    // in the hub. Read again, every message is whole JSON and the seqs go up one by one (or a
    // snapshot starts them again, if the hub conflated the wait), up to the last change.
    let n = 40;
    let server = TestServer::start(TransportConfig::default(), Some(heavy(n, 0)));
    let mut ws = small_window_client(&server);
    let snapshot = ws.read_message_with("audit-update", 64 << 10, Duration::ZERO);
    let seq_of = |text: &str| -> u64 {
        let value: serde_json::Value = serde_json::from_str(text).expect("a whole JSON message");
        value["seq"].as_u64().expect("a seq")
    };
    let mut last_seq = seq_of(&snapshot);
    // Let the session finish its snapshot write and go back to waiting.
    std::thread::sleep(Duration::from_millis(200));
    for round in 1..=6 {
        server.publish(heavy(n, round));
    }
    let final_seq = server.live.feed().hub().cursor().expect("a cursor").seq;
    std::thread::sleep(Duration::from_millis(300));
    let handovers = metric(server.addr, "gitops_live_handovers_total");
    assert!(handovers >= 1, "the publisher's write was cut and handed over");
    let mut messages = 0;
    while last_seq < final_seq {
        let (first, payload) = ws.read_frame(64 << 10, Duration::ZERO);
        assert_ne!(first & 0x0f, 0x8, "closed: {:?}", String::from_utf8_lossy(&payload));
        assert_eq!(first & 0x80, 0x80, "messages this size are one frame each");
        let text = match String::from_utf8(payload) {
            Ok(text) => text,
            Err(error) => panic!("a cut frame: {}", error.utf8_error()),
        };
        if !text.contains(r#""seq""#) {
            continue;
        }
        let seq = seq_of(&text);
        if text.contains(r#""type":"audit-update""#) {
            assert!(seq > last_seq, "a snapshot moves forward: {seq} after {last_seq}");
        } else {
            assert_eq!(seq, last_seq + 1, "one by one: {}", &text[..text.len().min(120)]);
        }
        last_seq = seq;
        messages += 1;
    }
    assert!(messages >= 1);
    assert_eq!(last_seq, final_seq);
}

/// A WebSocket client whose socket has a 4 KiB receive buffer (so the server's writes are cut
/// soon), blocking reads with a 10 s timeout, past its handshake.
fn small_window_client(server: &TestServer) -> RawWs {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4 << 10).expect("SO_RCVBUF");
    let stream = server.runtime.block_on(socket.connect(server.addr)).expect("connect");
    let stream = stream.into_std().expect("std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    RawWs::handshake(stream, server.addr, &[])
}

/// A counter's value from `/metrics`.
fn metric(addr: SocketAddr, name: &str) -> u64 {
    let response = crate::http::get(addr, "/metrics", &[]);
    let text = String::from_utf8(response.body).expect("UTF-8");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn pings_answered_while_the_publisher_writes_never_cut_a_change_or_lose_one() {
    // The session answers the client's pings (its turn) while the publisher writes changes to
    // the same socket (the publisher's turn, taken while the session waits): 200 changes of
    // ~64 KB 2 ms apart and 30 pings 50 ms apart, to a client with a 4 KiB receive buffer that
    // reads slowly, so that many of the publisher's writes are cut and finished by the session.
    // Every frame must be whole, the client's state must follow every message without a gap
    // or a repeat (a catch-up after a conflation may jump), end as the last report, and every
    // ping must be answered in order.
    let n = 20;
    let server = TestServer::start(TransportConfig::default(), Some(report(n)));
    let mut ws = small_window_client(&server);
    let snapshot = ws.read_message_with("audit-update", 4 << 10, Duration::ZERO);
    let mut live = LiveState::default();
    let apply = |live: &mut LiveState, bytes: &[u8]| {
        let message = ServerMessage::decode(bytes).expect("a valid message");
        match live.apply(message).expect("every change fits the state") {
            Applied::Advanced(_) | Applied::NotState => {}
            other => panic!("{other:?} at {:?}", live.cursor),
        }
    };
    apply(&mut live, snapshot.as_bytes());
    let mut writer = ws.stream.try_clone().expect("clone the socket");
    let pings = 30u64;
    let rounds = 200;
    std::thread::scope(|scope| {
        let publisher = scope.spawn(|| {
            let mut current = report(n);
            for round in 0..rounds {
                let notes = format!("{round}-{}", "y".repeat(64 << 10));
                current.repos[round % n].extra.insert("notes".into(), notes.into());
                server.publish(current.clone());
                std::thread::sleep(Duration::from_millis(2));
            }
            current
        });
        scope.spawn(move || {
            for ts in 0..pings {
                let ping = format!(r#"{{"type":"ping","ts":{ts}}}"#);
                writer.write_all(&RawWs::frame(0x81, ping.as_bytes(), false)).expect("ping");
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut pongs = 0u64;
        let mut message = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let final_cursor = server.live.feed().hub().cursor();
            let published_all = server.live.feed().stats().publishes > rounds as u64;
            if pongs == pings && published_all && live.cursor == final_cursor {
                break;
            }
            assert!(Instant::now() < deadline, "pongs {pongs}, at {:?}", live.cursor);
            let (first, payload) = ws.read_frame(4 << 10, Duration::from_micros(500));
            assert_ne!(first & 0x0f, 0x8, "closed: {:?}", String::from_utf8_lossy(&payload));
            // A snapshot over 1 MiB (after a conflation) comes as a text frame and continuations.
            if first & 0x0f > 0x1 {
                continue;
            }
            message.extend_from_slice(&payload);
            if first & 0x80 == 0 {
                continue;
            }
            let payload = std::mem::take(&mut message);
            let value: serde_json::Value = match serde_json::from_slice(&payload) {
                Ok(value) => value,
                Err(error) => panic!("a cut or mixed frame: {error}"),
            };
            if value["type"] == "pong" {
                assert_eq!(value["data"]["ts"].as_u64(), Some(pongs), "pongs in order: {value}");
                pongs += 1;
            }
            apply(&mut live, &payload);
        }
        let last = publisher.join().expect("the publisher");
        let shown = live.report.as_ref().expect("a state");
        assert!(gitops_diff::same_state(shown, &last), "the client ends where the server did");
    });
    assert!(metric(server.addr, "gitops_live_handovers_total") >= 1, "writes were cut");
}
