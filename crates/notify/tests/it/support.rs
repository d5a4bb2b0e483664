//! Test servers (an HTTP sink, a tiny SMTP server) and digests to send them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use gitops_notify::CertificateDer;
use gitops_notify::{Digest, Notifier, NotifierConfig};
use gitops_report::{Repo, Report, Status};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One request the sink received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// An HTTP server on 127.0.0.1 that records every request and answers with `status`.
pub(crate) struct Sink {
    pub addr: SocketAddr,
    pub received: mpsc::Receiver<Received>,
    /// The status the next answers carry (200 unless changed).
    pub status: Arc<AtomicU16>,
    task: JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    pub(crate) async fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// A sink speaking HTTPS with `config`.
    pub(crate) async fn start_tls(config: Arc<rustls::ServerConfig>) -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), Some(config))
    }

    pub(crate) fn on(listener: TcpListener) -> Self {
        Self::serve(listener, None)
    }

    fn serve(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let addr = listener.local_addr().unwrap();
        let (tx, received) = mpsc::channel(256);
        let status = Arc::new(AtomicU16::new(200));
        let answer = Arc::clone(&status);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let tx = tx.clone();
                let answer = Arc::clone(&answer);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: http::Request<hyper::body::Incoming>| {
                            let tx = tx.clone();
                            let status = answer.load(Ordering::SeqCst);
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body.collect().await?.to_bytes().to_vec();
                                let received = Received {
                                    method: parts.method.to_string(),
                                    path: parts.uri.to_string(),
                                    headers: parts.headers,
                                    body,
                                };
                                let _ = tx.try_send(received);
                                let mut response =
                                    http::Response::new(Full::new(Bytes::from_static(b"{}")));
                                *response.status_mut() =
                                    http::StatusCode::from_u16(status).unwrap();
                                if status == 429 || status == 503 {
                                    response
                                        .headers_mut()
                                        .insert("retry-after", http::HeaderValue::from_static("7"));
                                }
                                Ok::<_, hyper::Error>(response)
                            }
                        });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(config) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            let Ok(stream) = acceptor.accept(stream).await else { return };
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        Self { addr, received, status, task }
    }

    /// The next request, within ten seconds.
    pub(crate) async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("a request within 10 s")
            .expect("the sink is running")
    }
}

/// A server on 127.0.0.1 that accepts connections and never answers; returns its address.
pub(crate) async fn silent_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: a test opens a handful of connections at most.
        while held.len() < 64 {
            let Ok((stream, _)) = listener.accept().await else { return };
            held.push(stream);
        }
    });
    (addr, task)
}

/// One email the SMTP server received.
#[derive(Debug, Clone)]
pub(crate) struct Mail {
    pub auth: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// Whether the mail came over TLS (implicit or after STARTTLS).
    pub tls: bool,
}

/// How the test SMTP server offers TLS.
#[derive(Clone)]
pub(crate) enum SmtpTls {
    None,
    StartTls(Arc<rustls::ServerConfig>),
    Implicit(Arc<rustls::ServerConfig>),
}

/// A tiny SMTP server: EHLO (with STARTTLS when offered, and AUTH PLAIN), MAIL, RCPT, DATA, RSET,
/// NOOP, QUIT.
pub(crate) async fn smtp_server(
    tls: SmtpTls,
) -> (SocketAddr, mpsc::Receiver<Mail>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(16);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let tx = tx.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    SmtpTls::None => {
                        smtp_session(BufReader::new(stream), None, true, false, &tx).await;
                    }
                    SmtpTls::Implicit(config) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(config);
                        let Ok(stream) = acceptor.accept(stream).await else { return };
                        smtp_session(BufReader::new(stream), None, true, true, &tx).await;
                    }
                    SmtpTls::StartTls(config) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(config);
                        let upgraded =
                            smtp_session(BufReader::new(stream), Some(()), true, false, &tx).await;
                        let Some(stream) = upgraded else { return };
                        let Ok(stream) = acceptor.accept(stream).await else { return };
                        smtp_session(BufReader::new(stream), None, false, true, &tx).await;
                    }
                }
            });
        }
    });
    (addr, rx, task)
}

/// One SMTP session; returns the stream when the client asked for STARTTLS (and it was offered).
async fn smtp_session<S>(
    mut io: BufReader<S>,
    starttls: Option<()>,
    greet: bool,
    tls: bool,
    tx: &mpsc::Sender<Mail>,
) -> Option<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut mail =
        Mail { auth: None, from: String::new(), to: Vec::new(), data: String::new(), tls };
    // After STARTTLS the client speaks first (EHLO again); a fresh connection gets the greeting.
    if greet {
        io.write_all(b"220 test.local ESMTP ready\r\n").await.ok()?;
    }
    let mut line = String::new();
    // Bounded: one session is a few dozen commands.
    for _ in 0..1000 {
        line.clear();
        if io.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            if starttls.is_some() {
                b"250-test.local\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
            } else {
                b"250-test.local\r\n250-8BITMIME\r\n250 AUTH PLAIN\r\n"
            }
        } else if upper == "STARTTLS" && starttls.is_some() {
            io.write_all(b"220 go ahead\r\n").await.ok()?;
            return Some(io.into_inner());
        } else if let Some(token) = command.strip_prefix("AUTH PLAIN ") {
            mail.auth = Some(token.to_owned());
            b"235 2.7.0 accepted\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = command[10..].trim().to_owned();
            b"250 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(command[8..].trim().to_owned());
            b"250 ok\r\n"
        } else if upper == "DATA" {
            io.write_all(b"354 go on\r\n").await.ok()?;
            for _ in 0..100_000 {
                line.clear();
                if io.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return None;
                }
                if line == ".\r\n" {
                    break;
                }
                mail.data.push_str(&line);
            }
            let _ = tx.send(mail.clone()).await;
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            io.write_all(b"221 bye\r\n").await.ok()?;
            return None;
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 ok\r\n"
        } else {
            b"502 not implemented\r\n"
        };
        io.write_all(reply).await.ok()?;
    }
    None
}

/// A self-signed certificate for 127.0.0.1: the root to trust, and a server configuration.
pub(crate) fn tls_identity() -> (CertificateDer<'static>, Arc<rustls::ServerConfig>) {
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = key.cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], private)
        .unwrap();
    (cert, Arc::new(config))
}

pub(crate) fn at(minutes: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + minutes * 60)
}

pub(crate) fn report(repos: &[(String, Status)]) -> Report {
    let repos = repos
        .iter()
        .map(|(name, status)| Repo {
            name: name.clone(),
            status: status.clone(),
            ..Repo::default()
        })
        .collect();
    Report { repos, ..Report::default() }
}

pub(crate) fn config() -> NotifierConfig {
    NotifierConfig {
        dashboard_url: Some("https://gitops.example.org".to_owned()),
        history: true,
        ..NotifierConfig::default()
    }
}

/// A digest of `n` clean repositories going missing at once, plus one dirty one recovering.
pub(crate) fn digest_of_missing(n: usize) -> Digest {
    let names: Vec<String> = (0..n).map(|i| format!("repo-{i:02}")).collect();
    let before: Vec<(String, Status)> = names.iter().map(|n| (n.clone(), Status::Clean)).collect();
    let after: Vec<(String, Status)> = names.iter().map(|n| (n.clone(), Status::Missing)).collect();
    let mut notifier = Notifier::new(config());
    assert!(notifier.observe(None, &report(&before), None, "4:10", at(0)).is_none());
    notifier.observe(Some(&report(&before)), &report(&after), Some("4:10"), "4:11", at(1)).unwrap()
}
