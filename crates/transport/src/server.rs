//! The running server: [`Live`], the accept loop, one task per connection, the status loop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gitops_feed::Feed;
use gitops_hub::Hub;
use gitops_protocol::{ConnectionStatus, encode_connection_status};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clients::Registry;
use crate::{Assets, Metrics, TransportConfig, auth, io, now_rfc3339, routes, security};

/// The shared state of a running server.
pub struct Live {
    pub(crate) feed: Arc<Feed>,
    /// The feed's hub, kept at hand: every connection reads it.
    pub(crate) hub: Arc<Hub>,
    pub(crate) config: TransportConfig,
    pub(crate) assets: Arc<dyn Assets>,
    pub(crate) started: Instant,
    pub(crate) metrics: Metrics,
    pub(crate) clients: Mutex<Registry>,
    pub(crate) counts_changed: AtomicU64,
    pub(crate) caches: Mutex<routes::Caches>,
    pub(crate) gate: auth::Gate,
    pub(crate) actions: crate::actions::ActionsState,
    pub(crate) notifications: std::sync::OnceLock<Arc<dyn crate::Notifications>>,
    /// Why the server is not ready although it serves (a shared engine that is down).
    pub(crate) unready: Mutex<Option<String>>,
    pub(crate) hosts: security::HostPolicy,
    /// The port the listener is bound to, once [`serve`] has started (origins are compared with it).
    pub(crate) port: std::sync::OnceLock<u16>,
    pub(crate) shutdown: watch::Sender<bool>,
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
        let gate = auth::Gate::new(config.viewer.clone(), config.operator.clone());
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
            actions: crate::actions::ActionsState::default(),
            notifications: std::sync::OnceLock::new(),
            unready: Mutex::new(None),
            hosts,
            port: std::sync::OnceLock::new(),
            shutdown,
        });
        live.broadcast_status();
        live
    }

    /// Lets operators act on repositories (with an operator token configured): clone, commit,
    /// discard and the rest, through `remediation`. Once per server; a second call is ignored
    /// and returns false.
    pub fn enable_actions(&self, remediation: crate::Remediation) -> bool {
        self.actions.remediation.set(remediation).is_ok()
    }

    /// Marks the server not ready (`/readyz` answers 503 with `reason`) while it still serves
    /// what it has, so a load balancer sends new clients elsewhere; `None` makes it ready again.
    pub fn set_unready(&self, reason: Option<String>) {
        *crate::lock(&self.unready) = reason;
    }

    /// Lets the operator see and test notifications (`/api/notifications`) and snooze
    /// repositories. Once per server; a second call is ignored and returns false.
    pub fn enable_notifications(&self, notifications: Arc<dyn crate::Notifications>) -> bool {
        self.notifications.set(notifications).is_ok()
    }

    /// What `GET /api/session` says about actions, for a request made by `operator`.
    pub(crate) fn operator_info(
        &self,
        operator: Option<&auth::Operator>,
    ) -> gitops_protocol::OperatorInfo {
        crate::actions::operator_info(self, operator)
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
        // Real-time sessions read the signal when woken (see `session::Driver`).
        self.hub.wake_all();
    }

    pub(crate) fn broadcast_status(&self) {
        self.hub.set_status(encode_connection_status(&self.connection_status()));
    }

    /// Records the delay from the change behind each seq to now: one observation per delivered
    /// message, under one lock per batch.
    pub(crate) fn observe_deliveries(&self, seqs: impl Iterator<Item = u64>) {
        let now = std::time::Instant::now();
        self.feed.each_changed_at(seqs, |at| {
            self.metrics.observe_delivery(now.saturating_duration_since(at));
        });
    }

    /// Whether a request's `Origin` may use this server (see `HostPolicy::origin_allowed`).
    pub(crate) fn origin_allowed(&self, headers: &http::HeaderMap) -> bool {
        self.hosts.origin_allowed(headers, self.port.get().copied())
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
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

/// [`serve`] over TLS (`https:` and `wss:`), with a configuration from [`tls_config`](crate::tls_config).
pub async fn serve_tls(
    live: Arc<Live>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    serve_with(live, listener, Some(tokio_rustls::TlsAcceptor::from(tls))).await
}

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
        // Every connection holds a receiver of the shutdown signal for its whole life (so do
        // upgraded WebSockets): draining waits for the last one to be dropped.
        let held = live.shutdown_signal();
        let live = live.clone();
        match &tls {
            None => {
                tokio::spawn(serve_connection(live, stream, remote, held));
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
                        Ok(Ok(stream)) => serve_connection(live, stream, remote, held).await,
                        Ok(Err(error)) => tracing::debug!(%error, %remote, "tls handshake failed"),
                        Err(_) => tracing::debug!(%remote, "tls handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    status_task.abort();
    drop(shutdown);
    // Real-time clients outlive their HTTP connection (an upgraded socket or a streaming body),
    // and each holds a receiver of the shutdown signal, as every connection does: the sender
    // sees the last one dropped, with no polling (the mechanism of hyper-util's
    // `GracefulShutdown`, which cannot watch an HTTP/1 connection with upgrades). Each real-time
    // client closes itself at a random moment of the drain window; whatever is still subscribed
    // when the window ends is closed by the hub, with a second's grace for the close frames.
    let window_end = tokio::time::Instant::now() + live.config.drain;
    if tokio::time::timeout_at(window_end, live.shutdown.closed()).await.is_err() {
        live.hub.close_all(gitops_hub::CloseReason::Shutdown);
        let grace = window_end + Duration::from_secs(1);
        if tokio::time::timeout_at(grace, live.shutdown.closed()).await.is_err() {
            let left = live.shutdown.receiver_count();
            tracing::warn!(left, "some connections did not finish within the drain window");
        }
    }
    Ok(())
}

/// Serves HTTP/1.1 (with upgrades) on one accepted connection until it ends or shutdown.
async fn serve_connection<I>(
    live: Arc<Live>,
    io: I,
    remote: SocketAddr,
    mut stop: watch::Receiver<bool>,
) where
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
