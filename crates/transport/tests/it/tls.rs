//! TLS: a certificate made in the test, a real handshake, `wss:` carrying the protocol.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use gitops_hub::{Hub, HubConfig};
use gitops_protocol::ServerMessage;
use gitops_transport::{Asset, Assets, Live, Secret, TransportConfig, ViewerAuth};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _};

const VIEWER_TOKEN: &str = "tls-viewer-token-0123456789";

struct NoAssets;

impl Assets for NoAssets {
    fn get(&self, _path: &str) -> Option<Asset> {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_works_with_a_certificate_a_secure_session_cookie_and_plain_http_does_not() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let cert_pem = certified.cert.pem();
    let key_pem = certified.signing_key.serialize_pem();
    let tls = gitops_transport::tls_config(cert_pem.as_bytes(), key_pem.as_bytes())
        .expect("a tls config");
    assert!(
        gitops_transport::tls_config(b"not pem", key_pem.as_bytes()).is_err(),
        "bad PEM is a clear error"
    );

    let feed = crate::http::feed(Hub::new(HubConfig::default()));
    feed.publish(gitops_report::generate_report(5, 1), std::time::Instant::now());
    // With viewer sign-in on, so the session cookie's Secure flag is checked over real TLS.
    let viewer = ViewerAuth { token: Some(Secret::new(VIEWER_TOKEN)), ..ViewerAuth::default() };
    let config = TransportConfig { tls: true, viewer, ..TransportConfig::default() };
    let live = Live::new(feed, config, Arc::new(NoAssets));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(gitops_transport::serve_tls(live, listener, tls));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("trust the test certificate");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
        connector.connect(name, tcp).await.expect("a TLS handshake")
    };

    // Sign in over https: the cookie comes back Secure.
    let mut stream = connect().await;
    let body = format!(r#"{{"token":"{VIEWER_TOKEN}"}}"#);
    let request = format!(
        "POST /api/session HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let set_cookie = answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .expect("a Set-Cookie header");
    assert!(set_cookie.contains("; Secure") && set_cookie.contains("HttpOnly"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();

    let mut request = "wss://localhost/ws".into_client_request().expect("a request");
    request.headers_mut().insert("cookie", cookie.parse().expect("a header value"));
    let (mut socket, _) =
        tokio_tungstenite::client_async(request, connect().await).await.expect("a wss upgrade");
    let first = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
        {
            Some(Ok(Message::Text(text))) => {
                let message = ServerMessage::decode(text.as_bytes()).expect("a protocol message");
                if message.cursor().is_some() {
                    break message;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(matches!(first, ServerMessage::AuditUpdate { .. }));

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut plain, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = vec![0u8; 256];
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut plain, &mut buffer),
    )
    .await
    .expect("the server answers or closes")
    .unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"),
        "no plain-text service on the TLS port"
    );
}
