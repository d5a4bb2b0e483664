//! The gitops-live HTTP service: WebSocket, Server-Sent Events, long-poll, REST and static assets
//! on one port, over hyper 1.
//!
//! [`Live`] is the shared state of a running server: its settings, the connected clients, the
//! metrics, the caches and the sign-in gate, over the [`Feed`] that says what is served. [`serve`]
//! accepts connections on a listener until [`Live::shutdown`] is called, then closes every
//! real-time client with code 1001 and a reconnect hint, each at a random moment of a drain
//! window, so disconnects and reconnects are spread out.
//!
//! This crate knows no report source and does no file IO of its own: the dashboard's files come
//! through [`Assets`], the report through the [`Feed`], both supplied by the binary.
#![warn(missing_docs)]

mod auth;
mod history;
mod http_util;
mod io;
mod metrics;
mod routes;
mod security;
mod sse;
mod ws;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gitops_feed::Feed;
use gitops_hub::Hub;
use gitops_protocol::{ClientsByTransport, ConnectionStatus, Cursor, encode_connection_status};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::{AddrRange, SESSION_COOKIE, Secret, ViewerAuth};
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

/// The kinds of real-time clients, for counts and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// A WebSocket connection.
    Ws,
    /// A Server-Sent Events stream.
    Sse,
    /// A long-poll request.
    LongPoll,
}

impl ClientKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ws => "ws",
            Self::Sse => "sse",
            Self::LongPoll => "long_poll",
        }
    }
}

/// One connected client, as `GET /api/ws/clients` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientInfo {
    /// A number unique within this server run.
    pub id: u64,
    /// `ws`, `sse` or `long_poll`.
    pub transport: &'static str,
    /// The peer's address.
    pub remote: SocketAddr,
    /// When it connected, RFC 3339.
    pub connected_at: String,
    /// The cursor of the last state-bearing message sent to it (serialised as `"<epoch>:<seq>"`).
    pub cursor: Option<Cursor>,
}

/// A registered client: what the listing shows, and the seq of its last state-bearing message,
/// which the client's own task updates without the registry lock (0 = none yet).
#[derive(Debug)]
struct Registered {
    info: ClientInfo,
    last_seq: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    clients: HashMap<u64, Registered>,
    per_ip: HashMap<IpAddr, usize>,
    counts: ClientsByTransport,
}

/// Why a real-time client was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    TooManyFromIp,
    TooMany,
}

/// A registered client; unregisters on drop.
struct ClientGuard {
    live: Arc<Live>,
    id: u64,
    last_seq: Arc<AtomicU64>,
}

impl ClientGuard {
    /// Notes the cursor of the last state-bearing message sent: once per delivered batch per
    /// client, so a plain atomic store, not the registry's lock (the hub's epoch is the same for
    /// every cursor of a run).
    fn set_cursor(&self, cursor: Cursor) {
        self.last_seq.store(cursor.seq, Ordering::Relaxed);
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let mut registry = self.live.registry();
        if let Some(Registered { info, .. }) = registry.clients.remove(&self.id) {
            if let Some(n) = registry.per_ip.get_mut(&info.remote.ip()) {
                *n -= 1;
                if *n == 0 {
                    registry.per_ip.remove(&info.remote.ip());
                }
            }
            match info.transport {
                "ws" => registry.counts.ws -= 1,
                "sse" => registry.counts.sse -= 1,
                _ => registry.counts.long_poll -= 1,
            }
        }
        drop(registry);
        self.live.counts_changed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The shared state of a running server.
pub struct Live {
    feed: Arc<Feed>,
    /// The feed's hub, kept at hand: every connection reads it.
    hub: Arc<Hub>,
    config: TransportConfig,
    assets: Arc<dyn Assets>,
    started: Instant,
    metrics: Metrics,
    clients: Mutex<Registry>,
    counts_changed: AtomicU64,
    caches: Mutex<routes::Caches>,
    gate: auth::Gate,
    hosts: security::HostPolicy,
    /// The port the listener is bound to, once [`serve`] has started (origins are compared with it).
    port: std::sync::OnceLock<u16>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Live {
    /// Makes the server state over `feed`, which carries the report, its source's health and the
    /// trigger that `POST /api/ws/trigger-update` pulls.
    pub fn new(feed: Arc<Feed>, config: TransportConfig, assets: Arc<dyn Assets>) -> Arc<Self> {
        let (shutdown, _) = watch::channel(false);
        let gate = auth::Gate::new(config.viewer.clone());
        let hosts =
            security::HostPolicy::new(&config.allowed_hosts, &config.allowed_origins, config.tls);
        let live = Arc::new(Self {
            hub: feed.hub().clone(),
            feed,
            config,
            assets,
            started: Instant::now(),
            metrics: Metrics::default(),
            clients: Mutex::new(Registry::default()),
            counts_changed: AtomicU64::new(0),
            caches: Mutex::new(routes::Caches::default()),
            gate,
            hosts,
            port: std::sync::OnceLock::new(),
            shutdown,
        });
        live.broadcast_status();
        live
    }

    /// The feed this server serves.
    pub fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }

    /// The hub.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The settings.
    pub fn config(&self) -> &TransportConfig {
        &self.config
    }

    /// The server's view of itself, as sent in `connection-status`.
    pub fn connection_status(&self) -> ConnectionStatus {
        ConnectionStatus {
            server_time: now_rfc3339(),
            uptime_s: self.started.elapsed().as_secs(),
            realtime: self.config.realtime,
            clients: self.registry().counts,
            cursor: self.hub.cursor(),
            report: self.feed.source(),
            log: self.feed.log_status(),
        }
    }

    /// Asks the server to stop: listeners close, real-time clients get close code 1001.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    fn broadcast_status(&self) {
        self.hub.set_status(encode_connection_status(&self.connection_status()));
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.clients)
    }

    fn register(
        self: &Arc<Self>,
        kind: ClientKind,
        remote: SocketAddr,
    ) -> Result<ClientGuard, Refusal> {
        let mut registry = self.registry();
        let total = registry.clients.len();
        if total >= self.config.max_clients {
            return Err(Refusal::TooMany);
        }
        let from_ip = registry.per_ip.get(&remote.ip()).copied().unwrap_or(0);
        if from_ip >= self.config.max_clients_per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        let id = registry.next_id;
        registry.next_id += 1;
        *registry.per_ip.entry(remote.ip()).or_insert(0) += 1;
        match kind {
            ClientKind::Ws => registry.counts.ws += 1,
            ClientKind::Sse => registry.counts.sse += 1,
            ClientKind::LongPoll => registry.counts.long_poll += 1,
        }
        let last_seq = Arc::new(AtomicU64::new(0));
        let info = ClientInfo {
            id,
            transport: kind.as_str(),
            remote,
            connected_at: now_rfc3339(),
            cursor: None,
        };
        registry.clients.insert(id, Registered { info, last_seq: last_seq.clone() });
        drop(registry);
        self.counts_changed.fetch_add(1, Ordering::Relaxed);
        Ok(ClientGuard { live: self.clone(), id, last_seq })
    }

    /// Every connected client, by id, with its cursor.
    fn client_list(&self) -> (Vec<ClientInfo>, ClientsByTransport) {
        let epoch = self.hub.epoch();
        let registry = self.registry();
        let mut list: Vec<ClientInfo> = registry
            .clients
            .values()
            .map(|registered| {
                let seq = registered.last_seq.load(Ordering::Relaxed);
                let cursor = (seq > 0).then(|| Cursor::new(epoch, seq));
                ClientInfo { cursor, ..registered.info.clone() }
            })
            .collect();
        let counts = registry.counts;
        drop(registry);
        list.sort_by_key(|c| c.id);
        (list, counts)
    }

    /// Records the delay from the change behind each seq to now: one observation per delivered
    /// message, under one lock per batch.
    fn observe_deliveries(&self, seqs: impl Iterator<Item = u64>) {
        self.feed.each_changed_at(seqs, |at| self.metrics.observe_delivery(at.elapsed()));
    }

    /// Whether a request's `Origin` may use this server (see `HostPolicy::origin_allowed`).
    fn origin_allowed(&self, headers: &http::HeaderMap) -> bool {
        self.hosts.origin_allowed(headers, self.port.get().copied())
    }

    fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// Accepts connections on `listener` and serves them until [`Live::shutdown`], then drains.
///
/// Accept errors (such as running out of file descriptors) are logged and retried after a pause,
/// never in a busy loop.
pub async fn serve(live: Arc<Live>, listener: TcpListener) -> std::io::Result<()> {
    serve_with(live, listener, None).await
}

/// [`serve`] over TLS (`https:` and `wss:`), with a configuration from [`tls_config`].
pub async fn serve_tls(
    live: Arc<Live>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    serve_with(live, listener, Some(tokio_rustls::TlsAcceptor::from(tls))).await
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

async fn serve_with(
    live: Arc<Live>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    let mut shutdown = live.shutdown_signal();
    if let Ok(addr) = listener.local_addr() {
        let _ = live.port.set(addr.port());
    }
    let status_task = tokio::spawn(status_loop(live.clone()));
    let open_connections = Arc::new(AtomicU64::new(0));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = crate::stopped(&mut shutdown) => break,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "accept failed; pausing before the next accept");
                live.metrics.accept_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Small frames must leave at once: Nagle's algorithm would hold them for an ACK.
        let _ = stream.set_nodelay(true);
        let counter = ConnectionCount::new(&open_connections);
        let live = live.clone();
        match &tls {
            None => {
                tokio::spawn(serve_connection(live, stream, remote, counter));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // The handshake shares the header-read budget, so a silent TLS client is cut off too.
                    let handshake = tokio::time::timeout(
                        live.config.header_read_timeout,
                        acceptor.accept(stream),
                    )
                    .await;
                    match handshake {
                        Ok(Ok(stream)) => serve_connection(live, stream, remote, counter).await,
                        Ok(Err(error)) => tracing::debug!(%error, %remote, "tls handshake failed"),
                        Err(_) => tracing::debug!(%remote, "tls handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    status_task.abort();
    // Real-time clients outlive their HTTP connection (an upgraded socket or a streaming body),
    // so wait for both the connections and the registered clients to finish. Each real-time
    // client closes itself at a random moment of the drain window; whatever is still subscribed
    // when the window ends is closed by the hub, with a second's grace for the close frames.
    let busy =
        || open_connections.load(Ordering::Relaxed) > 0 || !live.registry().clients.is_empty();
    let window_end = tokio::time::Instant::now() + live.config.drain;
    while busy() && tokio::time::Instant::now() < window_end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    live.hub.close_all(gitops_hub::CloseReason::Shutdown);
    let deadline = window_end + Duration::from_secs(1);
    while busy() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = open_connections.load(Ordering::Relaxed) + live.registry().clients.len() as u64;
    if left > 0 {
        tracing::warn!(left, "some connections did not finish within the drain window");
    }
    Ok(())
}

/// Serves HTTP/1.1 (with upgrades) on one accepted connection until it ends or shutdown.
async fn serve_connection<I>(live: Arc<Live>, io: I, remote: SocketAddr, counter: ConnectionCount)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service_live = live.clone();
    let service = hyper::service::service_fn(move |request| {
        let live = service_live.clone();
        async move { Ok::<_, std::convert::Infallible>(routes::route(live, request, remote).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header-read timeout does nothing without a timer (field notes: slowloris).
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(live.config.header_read_timeout)
        // hyper's own bound is a backstop past the configured limit, which `routes` enforces
        // exactly (hyper's buffer check lets heads of up to about twice its size through).
        .max_buf_size(live.config.max_header_bytes.saturating_add(16 << 10).max(8192));
    let io = io::WriteDeadline::new(io, live.clone());
    let connection = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
    let mut stop = live.shutdown_signal();
    let drain = live.config.drain;
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = crate::stopped(&mut stop) => {
            // Finish the request in flight, then close; upgraded sockets close themselves.
            connection.as_mut().graceful_shutdown();
            tokio::time::timeout(drain, connection.as_mut()).await.unwrap_or(Ok(()))
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, %remote, "connection ended with an error");
    }
    drop(counter);
}

/// Counts one open HTTP connection while it lives.
struct ConnectionCount(Arc<AtomicU64>);

impl ConnectionCount {
    fn new(counter: &Arc<AtomicU64>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter.clone())
    }
}

impl Drop for ConnectionCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Tells clients about the source's health as soon as it changes, and about changed client
/// counts at most once per `status_interval`: the one place `connection-status` is sent from.
async fn status_loop(live: Arc<Live>) {
    let mut seen = live.counts_changed.load(Ordering::Relaxed);
    let mut source = live.feed.subscribe_source();
    let mut interval = tokio::time::interval(live.config.status_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut source_open = true;
    loop {
        tokio::select! {
            changed = source.changed(), if source_open => {
                source_open = changed.is_ok();
                source.mark_unchanged();
                live.broadcast_status();
            }
            _ = interval.tick() => {
                let now = live.counts_changed.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    live.broadcast_status();
                }
            }
        }
    }
}

/// An executor for hyper's client side, exposed for tools that embed the service.
pub fn executor() -> TokioExecutor {
    TokioExecutor::new()
}

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

/// A deadline decades away: a timer that stands for "never" until it is reset.
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// How a real-time client leaves on shutdown. Each picks a random moment of the drain window to
/// be closed at, and is asked to come back at a random moment of the window after it: what is
/// left of this window (until the old server is gone) plus a draw from the next. So a thousand
/// clients neither leave nor return in the same millisecond, and none knocks on a server that
/// is still going away.
#[derive(Debug, Clone, Copy)]
struct Departure {
    /// How long after shutdown began this client is closed.
    after: Duration,
    /// The reconnect delay it is given (`retry-ms=` on a WebSocket, `retry:` on SSE).
    retry_ms: u64,
}

impl Departure {
    /// A fresh draw for one client, over `drain`.
    fn draw(drain: Duration) -> Self {
        let window = drain.as_millis() as u64;
        let delay = ws::jitter(window);
        Self { after: Duration::from_millis(delay), retry_ms: window - delay + ws::jitter(window) }
    }
}

/// What the one planned-end timer of a real-time client stands for (a timer is ~100 bytes of
/// every idle connection, so session expiry and the drain share one).
#[derive(Debug, Clone, Copy)]
enum PlannedEnd {
    /// The viewer's session expires.
    SessionExpired,
    /// Shutdown: this client's moment of the drain window, and its reconnect delay.
    Drain {
        /// The reconnect delay to give.
        retry_ms: u64,
    },
}

impl PlannedEnd {
    /// On shutdown: moves `timer` to this client's moment of the drain window unless its session
    /// ends sooner, and says what the timer then stands for.
    fn on_shutdown(
        self,
        timer: std::pin::Pin<&mut tokio::time::Sleep>,
        drain: Duration,
    ) -> PlannedEnd {
        let departure = Departure::draw(drain);
        let at = tokio::time::Instant::now() + departure.after;
        if at < timer.deadline() {
            timer.reset(at);
            return PlannedEnd::Drain { retry_ms: departure.retry_ms };
        }
        self
    }
}
