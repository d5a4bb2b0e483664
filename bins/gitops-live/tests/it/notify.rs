//! Notifications through the binary: a webhook sink on 127.0.0.1 receives one signed message per
//! change, a test message on request, and nothing for a snoozed repository.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{ReportFile, Server, Style, eventually, http, http_with_body};

const OPERATOR: &str = "operator-token-0123456789";

/// A webhook receiver: every request's headers and JSON body, answered 200.
struct Sink {
    port: u16,
    received: mpsc::Receiver<(Vec<(String, String)>, Value)>,
}

impl Sink {
    fn start() -> Sink {
        Self::start_on(0)
    }

    fn start_on(port: u16) -> Sink {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, received) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(64) {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut headers = Vec::new();
                let mut line = String::new();
                reader.read_line(&mut line).expect("request line");
                loop {
                    line.clear();
                    if reader.read_line(&mut line).expect("header") == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(':') {
                        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                    }
                }
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).expect("body");
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if tx.send((headers, body)).is_err() {
                    break;
                }
            }
        });
        Sink { port, received }
    }

    fn next(&self, limit: Duration) -> Option<(Vec<(String, String)>, Value)> {
        self.received.recv_timeout(limit).ok()
    }
}

fn report(statuses: &[(&str, &str)]) -> Vec<u8> {
    let repos: Vec<Value> =
        statuses.iter().map(|(name, status)| json!({ "name": name, "status": status })).collect();
    json!({ "repos": repos }).to_string().into_bytes()
}

fn names_in(body: &Value) -> Vec<String> {
    body["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["repos"].as_array().into_iter().flatten())
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_change_is_one_signed_message_a_test_is_sent_on_request_and_a_snooze_holds() {
    let sink = Sink::start();
    let mut file =
        ReportFile::new(&report(&[("halo", "clean"), ("nova", "clean"), ("vega", "clean")]));
    let dir = tempfile::tempdir().expect("temp dir");
    let (secret, operator) = (dir.path().join("secret"), dir.path().join("operator"));
    std::fs::write(&secret, "webhook-shared-secret").expect("write");
    std::fs::write(&operator, OPERATOR).expect("write");
    let url = format!("http://127.0.0.1:{}/hook", sink.port);
    let (path, secret_arg, operator_arg) =
        (file.path_str(), secret.display().to_string(), operator.display().to_string());
    let server = Server::start(&[
        "serve",
        "--report",
        &path,
        "--notify-url",
        &url,
        "--notify-secret-file",
        &secret_arg,
        "--operator-token-file",
        &operator_arg,
        "--dashboard-url",
        "https://gitops.example.org",
    ]);
    let addr = server.addr;
    eventually(Duration::from_secs(20), || {
        (http(addr, "GET", "/readyz", &[]).status == 200).then_some(())
    });
    // The first report is the baseline: nothing is sent for it.
    assert!(sink.next(Duration::from_millis(500)).is_none(), "no message for the first report");

    // Two repositories go missing in one write: one message naming both, signed.
    file.write(
        &report(&[("halo", "missing"), ("nova", "missing"), ("vega", "clean")]),
        Style::AtomicRename,
    );
    let (headers, body) = sink.next(Duration::from_secs(20)).expect("a message");
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert!(
        header("x-gitops-signature-256").is_some_and(|v| v.starts_with("sha256=") && v.len() == 71)
    );
    assert!(header("x-gitops-timestamp").is_some());
    let mut names = names_in(&body);
    names.sort();
    assert_eq!(names, ["halo", "nova"], "{body}");
    assert_eq!(body["level"], "failure");
    assert!(
        body["link"]
            .as_str()
            .unwrap_or_default()
            .starts_with("https://gitops.example.org/history?from="),
        "{body}"
    );

    // The operator asks for a test message.
    let bearer = format!("Bearer {OPERATOR}");
    let auth = [("Authorization", bearer.as_str()), ("Content-Type", "application/json")];
    let queued = http_with_body(addr, "POST", "/api/notifications/test", &auth, b"{}");
    assert_eq!(queued.status, 200, "{}", String::from_utf8_lossy(&queued.body));
    let (_, test) = sink.next(Duration::from_secs(20)).expect("the test message");
    assert_eq!(test["source"][0]["event"], "test", "{test}");
    assert_eq!(
        http(addr, "POST", "/api/notifications/test", &[]).status,
        403,
        "the operator's only"
    );

    // A snoozed repository going missing sends nothing.
    let snoozed = http_with_body(addr, "POST", "/api/repos/vega/snooze", &auth, br#"{"for":"2h"}"#);
    assert_eq!(snoozed.status, 200, "{}", String::from_utf8_lossy(&snoozed.body));
    file.write(
        &report(&[("halo", "missing"), ("nova", "missing"), ("vega", "missing")]),
        Style::AtomicRename,
    );
    eventually(Duration::from_secs(10), || {
        let audit = http(addr, "GET", "/api/audit", &[]).json();
        (audit["data"]["repos"][2]["status"] == "missing").then_some(())
    });
    assert!(sink.next(Duration::from_secs(2)).is_none(), "vega is snoozed");

    let overview =
        http(addr, "GET", "/api/notifications", &[("Authorization", bearer.as_str())]).json();
    assert_eq!(overview["destinations"][0]["kind"], "webhook");
    assert_eq!(overview["destinations"][0]["signed"], true);
    assert!(!overview.to_string().contains("webhook-shared-secret"), "secrets never leave");
    assert_eq!(overview["snoozes"][0]["repo"], "vega");
    let states: Vec<&str> = overview["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter_map(|d| d["state"].as_str())
        .collect();
    assert_eq!(states, ["delivered", "delivered"], "{overview}");
}

#[test]
fn a_message_waiting_when_the_server_stops_is_delivered_after_a_restart() {
    // The receiver is down at first: its port is free, so connections are refused.
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let mut file = ReportFile::new(&report(&[("halo", "clean")]));
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state").display().to_string();
    let url = format!("http://127.0.0.1:{port}/hook");
    let path = file.path_str();
    let args = ["serve", "--report", &path, "--notify-url", &url, "--state-dir", &state];
    let server = Server::start(&args);
    let addr = server.addr;
    eventually(Duration::from_secs(20), || {
        (http(addr, "GET", "/readyz", &[]).status == 200).then_some(())
    });
    file.write(&report(&[("halo", "missing")]), Style::AtomicRename);
    eventually(Duration::from_secs(10), || {
        let audit = http(addr, "GET", "/api/audit", &[]).json();
        (audit["data"]["repos"][0]["status"] == "missing").then_some(())
    });
    // Give the first attempt time to fail, then stop the server with the message still queued.
    std::thread::sleep(Duration::from_millis(500));
    drop(server);

    let sink = Sink::start_on(port);
    let server = Server::start(&args);
    let (_, body) = sink.next(Duration::from_secs(30)).expect("delivered after the restart");
    assert_eq!(names_in(&body), ["halo"], "{body}");
    // Exactly once: the restarted notifier knows halo was told, so the reload sends nothing new.
    assert!(sink.next(Duration::from_secs(2)).is_none(), "no second message");
    drop(server);
}

#[test]
fn an_https_destination_with_a_homelab_certificate_is_delivered_when_its_ca_is_given() {
    let sink = Sink::start();
    let (front, pem, _runtime) =
        crate::support::tls_front(std::net::SocketAddr::from(([127, 0, 0, 1], sink.port)));
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).expect("write");
    let mut file = ReportFile::new(&report(&[("halo", "clean")]));
    let url = format!("https://127.0.0.1:{}/hook", front.port());
    let (path, ca_arg) = (file.path_str(), ca.display().to_string());
    let server = Server::start(&[
        "serve",
        "--report",
        &path,
        "--notify-url",
        &url,
        "--notify-ca-file",
        &ca_arg,
    ]);
    eventually(Duration::from_secs(20), || {
        (http(server.addr, "GET", "/readyz", &[]).status == 200).then_some(())
    });
    file.write(&report(&[("halo", "missing")]), Style::AtomicRename);
    let (_, body) = sink.next(Duration::from_secs(20)).expect("a message over https");
    assert_eq!(names_in(&body), ["halo"], "{body}");
    // /metrics counts it, by destination and state.
    let line = eventually(Duration::from_secs(10), || {
        let metrics =
            String::from_utf8_lossy(&http(server.addr, "GET", "/metrics", &[]).body).into_owned();
        str::lines(&metrics)
            .find(|l| l.starts_with("gitops_notifications{destination=\"webhook-"))
            .filter(|l| l.contains("state=\"delivered\"") && l.ends_with(" 1"))
            .map(str::to_owned)
    });
    assert!(line.contains(",state=\"delivered\"} 1"), "{line}");

    // A CA file that holds no certificate stops the server at start, saying so.
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .args(["serve", "--report", &path, "--bind", "127.0.0.1:0", "--state-dir", "none"])
        .args(["--notify-url", &url, "--notify-ca-file", &bad.display().to_string()])
        .env("GITOPS_CONFIG", "none")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("no PEM certificate"), "{err}");
}
