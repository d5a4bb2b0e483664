//! The service over real sockets: routes, caching, security headers, origins, limits and the
//! fallback transports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use gitops_feed::{Feed, FeedConfig};
use gitops_hub::{Hub, HubConfig};
use gitops_protocol::{ServerMessage, WatchState};
use gitops_report::{Report, Status, generate_report};
use gitops_transport::{Asset, Assets, Live, TransportConfig, WsLimits};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

/// Two files: the page and one hashed asset.
pub(crate) struct TestAssets;

impl Assets for TestAssets {
    fn get(&self, path: &str) -> Option<Asset> {
        let (bytes, content_type, immutable): (&'static [u8], &'static str, bool) = match path {
            "index.html" => {
                (b"<!doctype html><title>dash</title>", "text/html; charset=utf-8", false)
            }
            "assets/app-1234.js" => (b"console.log(1)", "text/javascript; charset=utf-8", true),
            _ => return None,
        };
        // The script also comes gzipped, as the binary's build script prepares it.
        let gzip = immutable.then(|| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(bytes).expect("gzip");
            bytes::Bytes::from(encoder.finish().expect("gzip"))
        });
        Some(Asset { bytes: bytes::Bytes::from_static(bytes), content_type, immutable, gzip })
    }
}

pub(crate) struct TestServer {
    pub(crate) live: Arc<Live>,
    pub(crate) addr: SocketAddr,
    pub(crate) runtime: tokio::runtime::Runtime,
}

impl TestServer {
    pub(crate) fn start(config: TransportConfig, report: Option<Report>) -> TestServer {
        Self::start_with_hub(config, HubConfig::default(), report)
    }

    pub(crate) fn start_with_hub(
        config: TransportConfig,
        hub_config: HubConfig,
        report: Option<Report>,
    ) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let feed = feed(Hub::new(hub_config));
        if let Some(report) = report {
            feed.publish(report, Instant::now());
        }
        let live = runtime.block_on(async { Live::new(feed, config, Arc::new(TestAssets)) });
        let listener =
            runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        runtime.spawn(gitops_transport::serve(live.clone(), listener));
        TestServer { live, addr, runtime }
    }

    pub(crate) fn publish(&self, report: Report) {
        self.live.feed().publish(report, Instant::now());
    }
}

/// A feed over `hub` watching a report file.
pub(crate) fn feed(hub: Arc<Hub>) -> Arc<Feed> {
    Feed::new(
        hub,
        FeedConfig {
            path: "/srv/audit/GitRepoReport.json".into(),
            watch: WatchState::Watching,
            parse: gitops_report::ParseOptions::default(),
        },
    )
}

#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Sends a raw request (the path is sent exactly as given) and reads until the server closes.
pub(crate) fn raw(addr: SocketAddr, request_line: &str, headers: &[(&str, &str)]) -> Response {
    raw_with_body(addr, request_line, headers, b"")
}

/// [`raw`] with a body (and its `Content-Length`).
pub(crate) fn raw_with_body(
    addr: SocketAddr,
    request_line: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut request = format!("{request_line} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    stream.write_all(body).expect("write the body");
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = bytes.get(split + 4..).map(<[u8]>::to_vec).unwrap_or_default();
    Response { status, head, body }
}

pub(crate) fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    raw(addr, &format!("GET {path}"), headers)
}

pub(crate) fn report(n: usize) -> Report {
    generate_report(n, 11)
}

#[test]
fn every_response_carries_the_security_headers() {
    let server = TestServer::start(TransportConfig::default(), Some(report(3)));
    for path in
        ["/", "/api/audit", "/audit", "/missing.js", "/api/ws/status", "/metrics", "/healthz"]
    {
        let response = get(server.addr, path, &[]);
        let csp =
            response.header("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(response.header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert!(response.header("referrer-policy").is_some(), "{path}");
    }
    assert_eq!(
        get(server.addr, "/api/audit", &[]).header("cache-control").as_deref(),
        Some("no-store")
    );
    let hashed = get(server.addr, "/assets/app-1234.js", &[]);
    assert!(hashed.header("cache-control").is_some_and(|c| c.contains("immutable")));
    assert_eq!(hashed.body, b"console.log(1)");
    let gzipped = get(server.addr, "/assets/app-1234.js", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(gzipped.header("content-encoding").as_deref(), Some("gzip"));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gzipped.body[..]).read_to_end(&mut plain).expect("gzip");
    assert_eq!(plain, b"console.log(1)");
}

#[test]
fn static_paths_cannot_escape_the_embedded_assets() {
    let server = TestServer::start(TransportConfig::default(), Some(report(3)));
    let hostile = [
        "/../Cargo.toml",
        "/assets/../../Cargo.toml",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%252e%252e/%252e%252e/etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "/..\\..\\Cargo.toml",
        "/assets/app-1234.js%00.html",
        "/./index.html",
        "//etc/passwd",
    ];
    for path in hostile {
        let response = get(server.addr, path, &[]);
        assert!(
            response.status == 404 || response.status == 400,
            "{path} answered {}",
            response.status
        );
        let body = String::from_utf8_lossy(&response.body);
        assert!(!body.contains("[package]") && !body.contains("root:"), "{path} leaked a file");
    }
    // Client-side routes get the page; missing files with an extension stay 404.
    let route = get(server.addr, "/audit/halo?action=clone", &[]);
    assert_eq!(route.status, 200);
    assert!(route.header("content-type").is_some_and(|c| c.starts_with("text/html")));
    assert_eq!(get(server.addr, "/assets/missing-9999.js", &[]).status, 404);
}

#[test]
fn api_audit_answers_304_for_the_current_cursor_and_compresses() {
    let server = TestServer::start(TransportConfig::default(), Some(report(300)));
    let first = get(server.addr, "/api/audit", &[]);
    assert_eq!(first.status, 200);
    let etag = first.header("etag").expect("an etag");
    let message = ServerMessage::decode(&first.body).expect("an audit-update message");
    assert!(matches!(message, ServerMessage::AuditUpdate { .. }));
    assert_eq!(get(server.addr, "/api/audit", &[("If-None-Match", &etag)]).status, 304);

    let gzipped = get(server.addr, "/api/audit", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gzipped.header("content-encoding").as_deref(), Some("gzip"));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gzipped.body[..]).read_to_end(&mut plain).expect("gzip");
    assert_eq!(plain, first.body);
    assert!(gzipped.body.len() * 3 < first.body.len(), "compression pays off on a report");

    let brotli = get(server.addr, "/api/audit", &[("Accept-Encoding", "gzip, deflate, br")]);
    assert_eq!(
        brotli.header("content-encoding").as_deref(),
        Some("br"),
        "brotli is preferred when accepted"
    );
    let mut plain = Vec::new();
    brotli::BrotliDecompress(&mut &brotli.body[..], &mut plain).expect("brotli");
    assert_eq!(plain, first.body);
    let refused = get(server.addr, "/api/audit", &[("Accept-Encoding", "br;q=0, gzip")]);
    assert_eq!(refused.header("content-encoding").as_deref(), Some("gzip"), "q=0 refuses a coding");

    let mut changed = report(300);
    changed.repos[0].status = Status::Other("archived-for-this-test".into());
    server.publish(changed);
    assert_eq!(
        get(server.addr, "/api/audit", &[("If-None-Match", &etag)]).status,
        200,
        "a new state is a new ETag"
    );
}

async fn ws_connect(addr: SocketAddr, origin: Option<&str>) -> Result<(), tungstenite::Error> {
    let mut request = format!("ws://{addr}/ws").into_client_request().expect("request");
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().expect("header"));
    }
    tokio_tungstenite::connect_async(request).await.map(|_| ())
}

#[test]
fn foreign_origins_are_refused_before_the_upgrade() {
    let config = TransportConfig {
        allowed_origins: vec!["https://dash.example.org".into()],
        ..TransportConfig::default()
    };
    let server = TestServer::start(config, Some(report(3)));
    let addr = server.addr;
    server.runtime.block_on(async {
        ws_connect(addr, None).await.expect("no Origin: not a browser, allowed");
        ws_connect(addr, Some(&format!("http://{addr}"))).await.expect("same origin");
        ws_connect(addr, Some("https://dash.example.org")).await.expect("allow-listed origin");
        let other_port = format!("http://127.0.0.1:{}", addr.port() + 1);
        match ws_connect(addr, Some(&other_port)).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
            other => panic!("a page on another port must get 403, got {other:?}"),
        }
    });
    let post = raw(
        addr,
        "POST /api/ws/trigger-update",
        &[("Origin", "http://evil.example"), ("Content-Length", "0")],
    );
    assert_eq!(post.status, 403, "POSTs are origin-checked too");
}

#[test]
fn the_rollback_switch_turns_real_time_off_politely() {
    let server = TestServer::start(
        TransportConfig { realtime: false, ..TransportConfig::default() },
        Some(report(3)),
    );
    for path in ["/api/events", "/api/updates?since="] {
        let response = get(server.addr, path, &[]);
        assert_eq!(response.status, 503, "{path}");
        assert!(String::from_utf8_lossy(&response.body).contains("realtime-off"));
    }
    let addr = server.addr;
    server.runtime.block_on(async {
        match ws_connect(addr, None).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
            other => panic!("expected 503, got {other:?}"),
        }
    });
    assert_eq!(get(server.addr, "/api/audit", &[]).status, 200, "polling still works");
    let status: serde_json::Value =
        serde_json::from_slice(&get(server.addr, "/api/ws/status", &[]).body).expect("json");
    assert_eq!(status["realtime"], false);
}

#[test]
fn per_ip_connection_cap_answers_429_with_retry_after() {
    let config = TransportConfig { max_clients_per_ip: 1, ..TransportConfig::default() };
    let server = TestServer::start(config, Some(report(3)));
    let addr = server.addr;
    server.runtime.block_on(async {
        let (_first, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("first");
        match tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 429);
                assert!(response.headers().contains_key("retry-after"));
            }
            other => panic!("expected 429, got {other:?}"),
        }
    });
}

#[test]
fn oversized_and_flooding_clients_are_closed_with_a_reason() {
    let limits = WsLimits {
        max_message_bytes: 1024,
        max_frame_bytes: 1024,
        messages_per_second: 5.0,
        message_burst: 5.0,
        ..WsLimits::default()
    };
    let server = TestServer::start(
        TransportConfig { ws: limits, ..TransportConfig::default() },
        Some(report(3)),
    );
    let addr = server.addr;
    server.runtime.block_on(async {
        let close_code = |mut socket: tokio_tungstenite::WebSocketStream<_>| async move {
            loop {
                match tokio::time::timeout(Duration::from_secs(10), socket.next())
                    .await
                    .expect("closed in time")
                {
                    Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                    Some(Ok(_)) => continue,
                    other => panic!("expected a close frame, got {other:?}"),
                }
            }
        };
        let (mut big, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("connect");
        big.send(Message::Text("x".repeat(4096).into())).await.expect("send");
        assert_eq!(close_code(big).await, 1009);

        let (mut flood, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("connect");
        for _ in 0..50 {
            if flood.send(Message::Text(r#"{"type":"get-status"}"#.into())).await.is_err() {
                break;
            }
        }
        assert_eq!(close_code(flood).await, 1008);
    });
}

#[test]
fn slow_header_senders_are_cut_off_at_the_header_timeout() {
    let config = TransportConfig {
        header_read_timeout: Duration::from_millis(500),
        ..TransportConfig::default()
    };
    let server = TestServer::start(config, Some(report(3)));
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr).expect("connect");
            stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").expect("partial headers");
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            stream
        })
        .collect();
    for stream in &mut slow {
        let mut buffer = [0u8; 512];
        // The server closes (EOF, or a 408 then EOF) rather than waiting forever for the rest.
        let mut total = 0;
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(error) => panic!(
                    "the server kept a slow connection open past the timeout: {error} ({total} bytes read)"
                ),
            }
        }
    }
}

#[test]
fn sse_resumes_from_last_event_id_and_long_poll_waits_for_news() {
    let server = TestServer::start(TransportConfig::default(), Some(report(20)));
    let cursor = server.live.hub().cursor().expect("cursor");
    let mut changed = report(20);
    changed.repos[4].status = Status::Dirty;
    server.publish(changed.clone());

    // SSE with Last-Event-ID: the first event is the one after the cursor, with its id.
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: {}\r\nLast-Event-ID: {cursor}\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut seen = String::new();
    let mut buffer = [0u8; 4096];
    while !seen.contains("event: repo-status-change") {
        let n = stream.read(&mut buffer).expect("an event in time");
        assert!(n > 0, "stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(seen.contains("text/event-stream"));
    assert!(seen.to_ascii_lowercase().contains("x-accel-buffering: no"));
    assert!(seen.contains(&format!("id: {}:{}", cursor.epoch, cursor.seq + 1)), "{seen}");
    assert!(!seen.contains("event: audit-update"), "a resumable cursor gets no snapshot: {seen}");

    // Long-poll from the current cursor is held until something changes.
    let now = server.live.hub().cursor().expect("cursor");
    let addr = server.addr;
    let poll = std::thread::spawn(move || get(addr, &format!("/api/updates?since={now}"), &[]));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!poll.is_finished(), "the long-poll must wait for news");
    changed.repos[5].status = Status::Missing;
    server.publish(changed);
    let response = poll.join().expect("poll thread");
    let messages: Vec<serde_json::Value> =
        serde_json::from_slice(&response.body).expect("a JSON array");
    assert!(
        messages.iter().any(|m| m["type"] == "repo-status-change" && m["seq"] == now.seq + 1),
        "{messages:?}"
    );
}

#[test]
fn a_snapshot_larger_than_a_frame_arrives_whole_over_the_websocket() {
    let server = TestServer::start(TransportConfig::default(), Some(report(1000)));
    let over_http = get(server.addr, "/api/audit", &[]).body;
    assert!(over_http.len() > 100_000, "the snapshot spans many 16 KiB fragments");
    let addr = server.addr;
    let over_ws = server.runtime.block_on(async {
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("connect");
        loop {
            match tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("in time")
            {
                Some(Ok(Message::Text(text)))
                    if text.as_str().starts_with(r#"{"type":"audit-update""#) =>
                {
                    return text.as_bytes().to_vec();
                }
                Some(Ok(_)) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    assert_eq!(over_ws, over_http);
}

#[test]
fn the_admin_client_list_shows_each_clients_transport_and_cursor() {
    let config = TransportConfig {
        admin_token: Some(gitops_transport::Secret::new("admin-token-0123456789")),
        ..TransportConfig::default()
    };
    let server = TestServer::start(config, Some(report(4)));
    let addr = server.addr;
    let cursor = server.live.hub().cursor().expect("a cursor");
    server.runtime.block_on(async {
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("connect");
        // Read until the snapshot has been written to this client.
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("a message in time")
                .expect("open")
                .expect("readable");
            if let Message::Text(text) = message
                && ServerMessage::decode(text.as_bytes()).expect("decodes").cursor().is_some()
            {
                break;
            }
        }
        // The cursor is noted just after the write, so the listing may lag a moment behind.
        let deadline = Instant::now() + Duration::from_secs(10);
        let body = loop {
            let auth = [("Authorization", "Bearer admin-token-0123456789")];
            let listed = get(addr, "/api/ws/clients", &auth);
            assert_eq!(listed.status, 200);
            let body: serde_json::Value = serde_json::from_slice(&listed.body).expect("json");
            if body["clients"][0]["cursor"] == cursor.to_string() || Instant::now() > deadline {
                break body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(body["counts"]["ws"], 1);
        assert_eq!(body["clients"][0]["transport"], "ws");
        assert_eq!(body["clients"][0]["cursor"], cursor.to_string(), "{body}");
        drop(socket);
    });
}
