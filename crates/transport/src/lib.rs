//! The gitops-live HTTP service: WebSocket, Server-Sent Events, long-poll, REST and static assets
//! on one port, over hyper 1.
//!
//! [`Live`] is the shared state of a running server: its settings, the connected clients, the
//! metrics, the caches and the sign-in gate, over the [`Feed`](gitops_feed::Feed) that says what is served. [`serve`]
//! accepts connections on a listener until [`Live::shutdown`] is called, then closes every
//! real-time client with code 1001 and a reconnect hint, each at a random moment of a drain
//! window, so disconnects and reconnects are spread out.
//!
//! This crate knows no report source and does no file IO of its own: the dashboard's files come
//! through [`Assets`], the report through the [`Feed`](gitops_feed::Feed), both supplied by the binary.
#![warn(missing_docs)]

mod actions;
mod auth;
mod badge;
mod clients;
mod drain;
mod export;
mod history;
mod http_util;
mod io;
mod metrics;
mod notify;
mod repo_metrics;
mod routes;
mod security;
mod server;
mod session;
mod sse;
mod ws;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

pub use actions::{
    ActionEnd, ActionLog, ActionStart, AuditTicket, Auditor, MemoryActionLog, Remediation,
};
pub use auth::{AddrRange, OPERATOR_COOKIE, OperatorAuth, SESSION_COOKIE, Secret, ViewerAuth};
pub use clients::{ClientInfo, ClientKind};
pub use notify::{Notifications, NotifyError};
pub use server::{Live, executor, serve, serve_tls};

pub(crate) use clients::{ClientGuard, Refusal};
pub(crate) use drain::far_future;
pub use metrics::Metrics;
pub use ws::WsLimits;
#[cfg(feature = "conformance")]
pub use ws::serve_echo;

/// Settings of the HTTP service.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// The token admin endpoints require as `Authorization: Bearer <token>`; `None` disables them.
    pub admin_token: Option<Secret>,
    /// Who may read the report: open by default, or signed in with a token or by a trusted proxy.
    pub viewer: ViewerAuth,
    /// Who may act on repositories (with [`Live::enable_actions`]): nobody by default.
    pub operator: OperatorAuth,
    /// Origins allowed besides the server's own (e.g. `https://dash.example.org`, scheme
    /// included); their names are allowed as `Host` too.
    pub allowed_origins: Vec<String>,
    /// Names requests may reach this server by, besides IP addresses, `localhost` and
    /// `*.localhost` (the defence against DNS rebinding): exact names, `*.suffix` patterns, or
    /// `*` for any name. A request with another `Host` is refused with 421 before routing.
    pub allowed_hosts: Vec<String>,
    /// False switches off WebSocket, SSE and long-poll (the rollback switch): clients poll.
    pub realtime: bool,
    /// The most real-time clients (WebSocket, SSE, long-poll) at once.
    pub max_clients: usize,
    /// The most real-time clients from one IP address at once.
    pub max_clients_per_ip: usize,
    /// The most bytes of request headers (names, values and their separators); more is
    /// answered with 431.
    pub max_header_bytes: usize,
    /// How long a connection may go without being able to write a byte while it has something
    /// to send (a client that stopped reading) before it is closed.
    pub write_timeout: Duration,
    /// WebSocket limits and heartbeats.
    pub ws: WsLimits,
    /// How long a client may take to send its request headers.
    pub header_read_timeout: Duration,
    /// How long graceful shutdown spreads its closes over (each real-time client is closed at a
    /// random moment of it, with a reconnect hint drawn from it too).
    pub drain: Duration,
    /// The longest a long-poll request is held.
    pub long_poll_timeout: Duration,
    /// The interval of SSE heartbeat comments.
    pub sse_heartbeat: Duration,
    /// The shortest interval between two `connection-status` broadcasts caused by client counts.
    pub status_interval: Duration,
    /// Whether the server is reached over TLS (sets `Secure` cookies and `wss:` hints).
    pub tls: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            admin_token: None,
            viewer: ViewerAuth::default(),
            operator: OperatorAuth::default(),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            realtime: true,
            max_clients: 20_000,
            max_clients_per_ip: 2_000,
            max_header_bytes: 64 << 10,
            write_timeout: Duration::from_secs(30),
            ws: WsLimits::default(),
            header_read_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(2),
            long_poll_timeout: Duration::from_secs(25),
            sse_heartbeat: Duration::from_secs(15),
            status_interval: Duration::from_secs(2),
            tls: false,
        }
    }
}

/// A static file served from `GET /`.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The file's bytes.
    pub bytes: Bytes,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Whether its name carries a content hash, so it may be cached forever.
    pub immutable: bool,
    /// The same bytes gzip-compressed, when compressing pays; sent to clients that accept gzip.
    pub gzip: Option<Bytes>,
}

/// Where the dashboard's files come from (the binary embeds them).
pub trait Assets: Send + Sync + 'static {
    /// The file at `path` (without the leading `/`), if there is one. `index.html` must exist
    /// for the dashboard to load; unknown paths without an extension are answered with it.
    fn get(&self, path: &str) -> Option<Asset>;
}

/// A TLS configuration from PEM text: the certificate chain and its private key. TLS 1.2 and 1.3
/// only (rustls speaks nothing older); HTTP/1.1 is announced over ALPN.
pub fn tls_config(
    cert_chain_pem: &[u8],
    private_key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("reading the certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Tls("the certificate file holds no certificate".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(private_key_pem)
        .map_err(|e| Error::Tls(format!("reading the private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Errors of this crate's setup functions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The certificate or key could not be used; the caller should fix the files and restart.
    #[error("tls: {0}")]
    Tls(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a few field updates that cannot panic half-way.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Now, as RFC 3339 in UTC with seconds.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

/// Resolves once shutdown has been asked for (or the sender is gone).
async fn stopped(signal: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, so callers' futures stay `Send`.
    let _ = signal.wait_for(|stop| *stop).await;
}
