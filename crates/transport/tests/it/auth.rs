//! Viewer sign-in over real sockets: data endpoints refuse without a session, a token becomes an
//! HttpOnly SameSite=Strict cookie that opens every transport, wrong tokens are throttled, an
//! expiring session closes its WebSocket with 4001, and a trusted proxy's header signs in only
//! from the proxy's address.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use gitops_protocol::{ServerMessage, Session, SignInMethod};
use gitops_transport::{SESSION_COOKIE, Secret, TransportConfig, ViewerAuth};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use crate::http::{Response, TestServer, get, raw, raw_with_body, report};

const TOKEN: &str = "viewer-token-0123456789";

fn token_config(ttl: Duration) -> TransportConfig {
    TransportConfig {
        viewer: ViewerAuth {
            token: Some(Secret::new(TOKEN)),
            session_ttl: ttl,
            ..ViewerAuth::default()
        },
        ..TransportConfig::default()
    }
}

fn sign_in(addr: SocketAddr, token: &str) -> Response {
    sign_in_from(addr, token, &format!("http://{addr}"))
}

/// Signs in from a page at `origin`.
fn sign_in_from(addr: SocketAddr, token: &str, origin: &str) -> Response {
    let body = serde_json::json!({ "token": token }).to_string();
    raw_with_body(
        addr,
        "POST /api/session",
        &[("Content-Type", "application/json"), ("Origin", origin)],
        body.as_bytes(),
    )
}

fn session(response: &Response) -> Session {
    serde_json::from_slice(&response.body).expect("a Session body")
}

/// `name=value` of the session cookie a response sets.
fn cookie_pair(response: &Response) -> String {
    let set_cookie = response.header("set-cookie").expect("a Set-Cookie header");
    set_cookie.split(';').next().expect("a pair").trim().to_owned()
}

fn error_code(response: &Response) -> String {
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
    body["error"].as_str().unwrap_or_default().to_owned()
}

/// Opens `/ws` with extra headers; the HTTP status of a refusal, or the socket.
async fn ws_open(
    addr: SocketAddr,
    headers: &[(&'static str, &str)],
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    u16,
> {
    let mut request = format!("ws://{addr}/ws").into_client_request().expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("unexpected websocket error {other}"),
    }
}

const DATA_PATHS: [&str; 5] =
    ["/api/audit", "/audit", "/api/ws/status", "/api/events", "/api/updates?since="];

#[test]
fn without_a_session_data_is_refused_and_the_page_and_probes_are_not() {
    let server = TestServer::start(token_config(Duration::from_secs(3600)), Some(report(3)));
    let addr = server.addr;
    for path in DATA_PATHS {
        let response = get(addr, path, &[]);
        assert_eq!(response.status, 401, "{path}");
        assert_eq!(error_code(&response), "unauthenticated", "{path}");
        assert_eq!(response.header("cache-control").as_deref(), Some("no-store"), "{path}");
    }
    let status = server.runtime.block_on(ws_open(addr, &[])).err();
    assert_eq!(status, Some(401), "/ws refuses before the upgrade, never 101");
    for (path, expected) in [("/", 200), ("/healthz", 200), ("/readyz", 200), ("/metrics", 200)] {
        assert_eq!(get(addr, path, &[]).status, expected, "{path} stays public");
    }
    let info = session(&get(addr, "/api/session", &[]));
    assert_eq!(
        info,
        Session {
            required: true,
            methods: vec![SignInMethod::Token],
            authenticated: false,
            user: None,
            expires_at: None,
            operator: gitops_protocol::OperatorInfo {
                available: false,
                reason: Some(
                    "actions are off: no operator token is configured (start the server with \
                     --operator-token-file)"
                        .to_owned()
                ),
                sign_in: false,
                signed_in: false,
                expires_at: None,
            },
        }
    );
    // A token in the URL is never looked at.
    assert_eq!(get(addr, &format!("/api/audit?token={TOKEN}"), &[]).status, 401);
    let metrics = String::from_utf8(get(addr, "/metrics", &[]).body).expect("text");
    assert!(metrics.contains("gitops_live_unauthenticated_total 7"), "{metrics}");
}

#[test]
fn a_token_becomes_an_http_only_strict_cookie_that_opens_every_transport() {
    let server = TestServer::start(token_config(Duration::from_secs(3600)), Some(report(4)));
    let addr = server.addr;

    let wrong = sign_in(addr, "viewer-token-0123456780");
    assert_eq!((wrong.status, error_code(&wrong).as_str()), (401, "bad-token"));
    assert!(wrong.header("set-cookie").is_none());
    let cross_site = raw_with_body(
        addr,
        "POST /api/session",
        &[("Origin", "http://evil.example"), ("Content-Type", "application/json")],
        format!(r#"{{"token":"{TOKEN}"}}"#).as_bytes(),
    );
    assert_eq!(cross_site.status, 403, "another site's page cannot sign in for the user");
    let malformed = raw_with_body(addr, "POST /api/session", &[], b"token=abc");
    assert_eq!((malformed.status, error_code(&malformed).as_str()), (400, "bad-request"));

    let signed_in = sign_in(addr, TOKEN);
    assert_eq!(signed_in.status, 200);
    let set_cookie = signed_in.header("set-cookie").expect("a cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP without --secure-cookies: {set_cookie}");
    assert!(!set_cookie.contains(TOKEN), "the cookie does not carry the token");
    let info = session(&signed_in);
    assert!(info.authenticated && info.expires_at.is_some(), "{info:?}");

    let cookie = cookie_pair(&signed_in);
    assert!(cookie.starts_with(&format!("{SESSION_COOKIE}=")));
    let with_cookie = [("Cookie", cookie.as_str())];
    for path in DATA_PATHS {
        if path == "/api/events" {
            continue; // a stream: checked below without waiting for it to end
        }
        assert_eq!(get(addr, path, &with_cookie).status, 200, "{path} with the cookie");
    }
    assert!(session(&get(addr, "/api/session", &with_cookie)).authenticated);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(get(addr, "/api/audit", &[("Authorization", &bearer)]).status, 200, "tools");

    server.runtime.block_on(async {
        let mut socket = ws_open(addr, &[("cookie", &cookie)]).await.expect("101 with a cookie");
        let first = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("a message")
            .expect("readable");
        let Message::Text(text) = first else { panic!("a text message, got {first:?}") };
        assert!(matches!(
            ServerMessage::decode(text.as_bytes()).expect("a message"),
            ServerMessage::AuditUpdate { .. } | ServerMessage::ConnectionStatus { .. }
        ));

        let events = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut stream = tokio::io::BufReader::new(events);
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
        let request =
            format!("GET /api/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n");
        stream.get_mut().write_all(request.as_bytes()).await.expect("write");
        let mut status_line = String::new();
        stream.read_line(&mut status_line).await.expect("read");
        assert!(status_line.starts_with("HTTP/1.1 200"), "SSE with the cookie: {status_line}");
    });

    let (_, tag) = cookie.split_once('.').expect("expiry.tag");
    let forged = format!("{SESSION_COOKIE}=99999999999.{tag}");
    assert_eq!(get(addr, "/api/audit", &[("Cookie", &forged)]).status, 401, "edited expiry");

    let signed_out = raw(addr, "DELETE /api/session", &with_cookie);
    assert_eq!(signed_out.status, 200);
    assert!(!session(&signed_out).authenticated);
    let cleared = signed_out.header("set-cookie").expect("a clearing cookie");
    assert!(cleared.starts_with(&format!("{SESSION_COOKIE}=;")) && cleared.contains("Max-Age=0"));
}

#[test]
fn wrong_tokens_from_one_address_are_throttled_with_retry_after() {
    let server = TestServer::start(token_config(Duration::from_secs(3600)), Some(report(2)));
    for attempt in 1..=5 {
        assert_eq!(sign_in(server.addr, "not-the-token-000000").status, 401, "attempt {attempt}");
    }
    let throttled = sign_in(server.addr, TOKEN);
    assert_eq!(throttled.status, 429, "even the right token waits once the address is throttled");
    assert_eq!(error_code(&throttled), "too-many-attempts");
    let wait: u64 = throttled.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let metrics = String::from_utf8(get(server.addr, "/metrics", &[]).body).expect("text");
    assert!(metrics.contains("gitops_live_sign_in_failures_total 5"), "{metrics}");
}

#[test]
fn an_open_websocket_is_closed_with_4001_when_its_session_expires() {
    let server = TestServer::start(token_config(Duration::from_secs(1)), Some(report(2)));
    let addr = server.addr;
    let cookie = cookie_pair(&sign_in(addr, TOKEN));
    server.runtime.block_on(async {
        let mut socket = ws_open(addr, &[("cookie", &cookie)]).await.expect("101");
        let close = tokio::time::timeout(Duration::from_secs(15), async {
            while let Some(message) = socket.next().await {
                if let Ok(Message::Close(frame)) = message {
                    return frame;
                }
            }
            None
        })
        .await
        .expect("closed within 15 s")
        .expect("a close frame");
        assert_eq!(u16::from(close.code), 4001);
        assert!(close.reason.contains("session expired"), "{}", close.reason);
        // The same cookie no longer opens anything.
        assert_eq!(ws_open(addr, &[("cookie", &cookie)]).await.err(), Some(401));
    });
}

#[test]
fn a_proxy_header_signs_in_only_from_a_trusted_address() {
    let config = TransportConfig {
        viewer: ViewerAuth {
            proxy_header: Some(http::HeaderName::from_static("remote-user")),
            trusted_proxies: vec!["127.0.0.1".parse().expect("an address")],
            ..ViewerAuth::default()
        },
        ..TransportConfig::default()
    };
    let server = TestServer::start(config, Some(report(2)));
    let addr = server.addr;
    let as_alice = [("Remote-User", "alice")];
    assert_eq!(get(addr, "/api/audit", &as_alice).status, 200, "from the trusted proxy");
    let info = session(&get(addr, "/api/session", &as_alice));
    assert_eq!((info.methods, info.user.as_deref()), (vec![SignInMethod::Proxy], Some("alice")));
    assert_eq!(get(addr, "/api/audit", &[]).status, 401, "the proxy sent no user");
    assert_eq!(
        sign_in(addr, TOKEN).status,
        404,
        "no token sign-in when only the proxy signs viewers in"
    );

    // The same header from another address (a client that reached the server directly).
    let status = server.runtime.block_on(async {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.bind("127.0.0.2:0".parse().expect("an address")).expect("bind 127.0.0.2");
        let mut stream = socket.connect(addr).await.expect("connect");
        let request = format!(
            "GET /api/audit HTTP/1.1\r\nHost: {addr}\r\nRemote-User: alice\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer.split(' ').nth(1).unwrap_or_default().to_owned()
    });
    assert_eq!(status, "401", "a forged proxy header from an untrusted address is ignored");
}

#[test]
fn the_cookie_is_secure_over_tls_or_when_asked() {
    for (tls, secure_cookies) in [(true, false), (false, true)] {
        let mut config = token_config(Duration::from_secs(60));
        config.tls = tls;
        config.viewer.secure_cookies = secure_cookies;
        let server = TestServer::start(config, Some(report(1)));
        // The page's origin has the scheme the server says it is reached by.
        let origin = format!("{}://{}", if tls { "https" } else { "http" }, server.addr);
        let set_cookie =
            sign_in_from(server.addr, TOKEN, &origin).header("set-cookie").expect("a cookie");
        assert!(set_cookie.contains("; Secure"), "tls={tls}: {set_cookie}");
    }
}

#[test]
fn with_sign_in_off_everything_is_open_and_says_so() {
    let server = TestServer::start(TransportConfig::default(), Some(report(1)));
    let info = session(&get(server.addr, "/api/session", &[]));
    assert!(!info.required && info.authenticated && info.methods.is_empty(), "{info:?}");
    assert_eq!(get(server.addr, "/api/audit", &[]).status, 200);
    assert_eq!(sign_in(server.addr, TOKEN).status, 404);
}

#[test]
fn a_tool_connects_with_the_viewer_token_and_not_without_it() {
    use gitops_client::{Client, ClientConfig, ConnectOptions, Connection};
    let server = TestServer::start(token_config(Duration::from_secs(3600)), Some(report(6)));
    let url = format!("ws://{}/ws", server.addr);
    server.runtime.block_on(async {
        let refused = Connection::open(&url, None, None).await;
        assert!(
            matches!(&refused, Err(gitops_client::Error::WebSocket(tungstenite::Error::Http(r))) if r.status() == 401),
            "{refused:?}"
        );
        let connect = ConnectOptions { bearer: Some(TOKEN.to_owned()), ..ConnectOptions::default() };
        let mut client = Client::new(ClientConfig { connect, ..ClientConfig::new(url.clone()) });
        tokio::time::timeout(Duration::from_secs(10), async {
            while client.state().report.is_none() {
                client.next().await;
            }
        })
        .await
        .expect("the report arrives with the token");
        assert_eq!(client.state().report.as_ref().map(|r| r.repos.len()), Some(6));
    });
}

#[test]
fn behind_a_trusted_proxy_limits_count_the_forwarded_client_and_the_proxy_user_still_signs_in() {
    let config = TransportConfig {
        max_clients_per_ip: 1,
        viewer: ViewerAuth {
            proxy_header: Some(http::HeaderName::from_static("remote-user")),
            ..ViewerAuth::default() // trusts loopback
        },
        ..TransportConfig::default()
    };
    let server = TestServer::start(config, Some(report(2)));
    let addr = server.addr;
    server.runtime.block_on(async {
        let as_client = |ip: &'static str| [("remote-user", "alice"), ("x-forwarded-for", ip)];
        let first = ws_open(addr, &as_client("192.0.2.10")).await.expect("first client");
        let second = ws_open(addr, &as_client("192.0.2.11")).await.expect("another client");
        // Both came through the same proxy address; the cap of one per address counts clients.
        assert_eq!(
            ws_open(addr, &as_client("192.0.2.10")).await.err(),
            Some(429),
            "a second connection of the same forwarded client is over its cap"
        );
        drop((first, second));
    });
}
