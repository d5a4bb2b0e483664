//! Each HTTP destination against a real sink: method, path, headers and body as the service expects.

use gitops_notify::{
    DeliveryError, Destination, RenderOptions, Secret, Sender, SenderConfig, render,
};

use crate::support::{Sink, digest_of_missing};

fn sender() -> Sender {
    Sender::new(SenderConfig::default()).unwrap()
}

async fn deliver(url: &str, n: usize) -> (Destination, gitops_notify::Digest) {
    let destination = Destination::parse(url).unwrap();
    let digest = digest_of_missing(n);
    let rendered = render(&digest, &destination, &RenderOptions::default());
    sender().send(&destination, &rendered).await.unwrap();
    (destination, digest)
}

fn hex_hmac(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::sign(&key, body).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn webhook_is_signed_over_the_exact_body() {
    let mut sink = Sink::start().await;
    let url = format!("http://{}/hooks/in?team=ops", sink.addr);
    let destination =
        Destination::parse(&url).unwrap().with_secret(Secret::new("shared-s3cret")).unwrap();
    let digest = digest_of_missing(3);
    let rendered = render(&digest, &destination, &RenderOptions::default());
    sender().send(&destination, &rendered).await.unwrap();

    let request = sink.next().await;
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hooks/in?team=ops"));
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("x-gitops-event"), "digest");
    let timestamp: u64 = request.header("x-gitops-timestamp").parse().unwrap();
    assert!(timestamp > 1_700_000_000);
    let expected = format!("sha256={}", hex_hmac(b"shared-s3cret", &request.body));
    assert_eq!(request.header("x-gitops-signature-256"), expected);
    assert_ne!(expected, format!("sha256={}", hex_hmac(b"another secret", &request.body)));

    let body = request.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["title"], "gitops: 3 repositories need attention (red)");
    assert_eq!(body["level"], "failure");
    assert_eq!(body["from_cursor"], "4:10");
    assert_eq!(body["to_cursor"], "4:11");
    assert_eq!(body["link"], "https://gitops.example.org/history?from=4:10&to=4:11");
    assert_eq!(body["health"], serde_json::json!({"from": "green", "to": "red"}));
    assert_eq!(body["groups"][0]["status"], "missing");
    assert_eq!(body["groups"][0]["count"], 3);
    assert_eq!(body["groups"][0]["repos"][2]["name"], "repo-02");
    assert_eq!(body["groups"][0]["repos"][2]["from"], "clean");
    // The secret never travels.
    assert!(!String::from_utf8_lossy(&request.body).contains("s3cret"));
}

#[tokio::test]
async fn unsigned_webhook_has_no_signature_header() {
    let mut sink = Sink::start().await;
    deliver(&format!("http://{}/x", sink.addr), 1).await;
    let request = sink.next().await;
    assert!(request.headers.get("x-gitops-signature-256").is_none());
    assert!(request.headers.get("x-gitops-timestamp").is_some());
}

#[tokio::test]
async fn ntfy_gets_a_json_publish_with_priority_tags_and_click() {
    let mut sink = Sink::start().await;
    deliver(&format!("ntfy://alice:pw@{}/homelab", sink.addr), 2).await;
    let request = sink.next().await;
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/"));
    assert_eq!(request.header("authorization"), "Basic YWxpY2U6cHc=");
    let body = request.json();
    assert_eq!(body["topic"], "homelab");
    assert_eq!(body["title"], "gitops: 2 repositories need attention (red)");
    assert_eq!(body["priority"], 5);
    assert_eq!(body["tags"], serde_json::json!(["rotating_light", "gitops"]));
    assert_eq!(body["click"], "https://gitops.example.org/history?from=4:10&to=4:11");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("Now missing (2)") && message.contains("- repo-01 (was clean)"),
        "{message}"
    );
}

#[tokio::test]
async fn gotify_gets_its_message_api_with_the_key_header() {
    let mut sink = Sink::start().await;
    deliver(&format!("gotify://{}/gotify/AbCdEf", sink.addr), 1).await;
    let request = sink.next().await;
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/gotify/message"));
    assert_eq!(request.header("x-gotify-key"), "AbCdEf");
    let body = request.json();
    assert_eq!(body["title"], "gitops: 1 repository needs attention (red)");
    assert_eq!(body["priority"], 8);
    assert_eq!(body["extras"]["client::display"]["contentType"], "text/markdown");
    assert_eq!(
        body["extras"]["client::notification"]["click"]["url"],
        "https://gitops.example.org/history?from=4:10&to=4:11"
    );
    assert!(body["message"].as_str().unwrap().contains("**Now missing (1)**"));
}

#[tokio::test]
async fn apprise_api_gets_notify_with_title_body_and_type() {
    let mut sink = Sink::start().await;
    deliver(&format!("apprise://{}/homelab-key", sink.addr), 1).await;
    let request = sink.next().await;
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/notify/homelab-key"));
    let body = request.json();
    assert_eq!(body["type"], "failure");
    assert_eq!(body["format"], "text");
    assert_eq!(body["title"], "gitops: 1 repository needs attention (red)");
    assert!(body["body"].as_str().unwrap().contains("Health: green → red"));
}

#[tokio::test]
async fn slack_mattermost_and_discord_get_their_webhook_bodies() {
    let mut sink = Sink::start().await;
    deliver(&format!("slack://T000/B000/XXXX?base=http://{}", sink.addr), 2).await;
    let request = sink.next().await;
    assert_eq!(request.path, "/services/T000/B000/XXXX");
    let text = request.json()["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("*gitops: 2 repositories need attention (red)*\n"), "{text}");
    assert!(
        text.contains("<https://gitops.example.org/history?from=4:10&amp;to=4:11|Open the changes"),
        "{text}"
    );

    deliver(&format!("mmost://{}/mm-token", sink.addr), 2).await;
    let request = sink.next().await;
    assert_eq!(request.path, "/hooks/mm-token");
    let text = request.json()["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("#### gitops: 2 repositories"), "{text}");
    assert!(text.contains(
        "[Open the changes in the dashboard](https://gitops.example.org/history?from=4:10&to=4:11)"
    ));

    // 60 long names would pass Discord's limit unbounded: the list stops at 20 and the content at 2,000.
    deliver(&format!("discord://1234/dtoken?base=http://{}", sink.addr), 60).await;
    let request = sink.next().await;
    assert_eq!(request.path, "/api/webhooks/1234/dtoken");
    let content = request.json()["content"].as_str().unwrap().to_owned();
    assert!(content.chars().count() <= 2000);
    assert!(content.contains("- and 40 more"), "{content}");
    assert!(content.contains("repo\\-19") || content.contains("repo-19"), "{content}");
    assert!(!content.contains("repo-20 "), "{content}");
}

#[tokio::test]
async fn failures_are_classified_by_status_and_connection() {
    let sink = Sink::start().await;
    let destination = Destination::parse(&format!("http://{}/x", sink.addr)).unwrap();
    let rendered = render(&digest_of_missing(1), &destination, &RenderOptions::default());

    sink.status.store(503, std::sync::atomic::Ordering::SeqCst);
    let error = sender().send(&destination, &rendered).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Status { status: 503, .. }), "{error}");
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(7)));

    sink.status.store(404, std::sync::atomic::Ordering::SeqCst);
    let error = sender().send(&destination, &rendered).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = Destination::parse(&format!("ntfy://127.0.0.1:{port}/t")).unwrap();
    let error = sender().send(&nowhere, &rendered).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Connect(_)), "{error}");
    assert!(error.is_retryable());

    let email =
        Destination::parse("mailto://127.0.0.1:1?to=a@b.org&from=c@d.org&mode=plain").unwrap();
    let error = sender().send(&email, &rendered).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Mismatch { .. }) && !error.is_retryable(), "{error}");
}

#[tokio::test]
async fn a_silent_server_times_out_as_retryable() {
    let (addr, _task) = crate::support::silent_server().await;
    let destination = Destination::parse(&format!("http://{addr}/x")).unwrap();
    let rendered = render(&digest_of_missing(1), &destination, &RenderOptions::default());
    let quick = Sender::new(SenderConfig {
        timeout: Some(std::time::Duration::from_millis(300)),
        ..SenderConfig::default()
    })
    .unwrap();
    let error = quick.send(&destination, &rendered).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Timeout(_)) && error.is_retryable(), "{error}");
}

#[tokio::test]
async fn https_destinations_verify_the_certificate() {
    let (root, server) = crate::support::tls_identity();
    let mut sink = Sink::start_tls(server).await;
    let destination = Destination::parse(&format!("ntfys://{}/secure", sink.addr)).unwrap();
    let rendered = render(&digest_of_missing(1), &destination, &RenderOptions::default());

    // Not trusted: the handshake fails, and that is worth retrying (a certificate being renewed).
    let error = sender().send(&destination, &rendered).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Tls(_)) && error.is_retryable(), "{error}");

    let trusting =
        Sender::new(SenderConfig { extra_roots: vec![root], ..SenderConfig::default() }).unwrap();
    trusting.send(&destination, &rendered).await.unwrap();
    let request = sink.next().await;
    assert_eq!(request.json()["topic"], "secure");
}

/// A server that reads the request, answers with `Connection: close` and closes at once (as many
/// small webhook receivers do): the answer counts, every time.
#[tokio::test]
async fn an_answer_followed_by_a_close_is_a_delivery() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        for _ in 0..20 {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then the body by its length.
            loop {
                let n = stream.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
                assert!(n > 0, "the client closed early");
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            drop(stream);
        }
    });
    let destination = Destination::parse(&format!("http://{addr}/hook")).unwrap();
    let rendered = render(&digest_of_missing(2), &destination, &RenderOptions::default());
    for attempt in 0..20 {
        let sent = sender().send(&destination, &rendered).await;
        assert!(sent.is_ok(), "attempt {attempt}: {sent:?}");
    }
    server.await.unwrap();
}
