//! `gitops-live serve`: watch a report file and push every change to browsers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gitops_feed::{Feed, FeedConfig};
use gitops_protocol::WatchState;
use gitops_transport::{Live, TransportConfig, WsLimits};
use gitops_watch::{WatchConfig, WatchEvent, WatchMode};

use crate::assets::EmbeddedDashboard;
use crate::cli::{self, AuditOptions, ServeCommand};

/// Options shared by `serve` and `demo`: where to listen and how to treat clients.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServerArgs {
    /// Address to listen on. Use 0.0.0.0:3070 to listen on every interface (put TLS or a
    /// reverse proxy in front).
    #[arg(long, env = "GITOPS_BIND", default_value = "127.0.0.1:3070")]
    pub(crate) bind: SocketAddr,
    /// File holding the admin token for POST /api/ws/trigger-update and GET /api/ws/clients.
    /// Without it (or GITOPS_ADMIN_TOKEN) those endpoints are disabled.
    #[arg(long, env = "GITOPS_ADMIN_TOKEN_FILE")]
    pub(crate) admin_token_file: Option<PathBuf>,
    /// The admin token itself (prefer --admin-token-file: environment variables leak into process listings less
    /// than arguments, files less than both). Never logged.
    #[arg(long = "admin-token", env = "GITOPS_ADMIN_TOKEN", hide_env_values = true, hide = true)]
    pub(crate) admin_token: Option<String>,
    /// File holding the viewer token: when given, reading the report needs a sign-in (the
    /// dashboard asks for the token once and keeps an HttpOnly session cookie; tools send
    /// `Authorization: Bearer <token>`). At least 16 characters.
    #[arg(long, env = "GITOPS_VIEWER_TOKEN_FILE")]
    pub(crate) viewer_token_file: Option<PathBuf>,
    /// The viewer token itself (prefer --viewer-token-file). Never logged.
    #[arg(long = "viewer-token", env = "GITOPS_VIEWER_TOKEN", hide_env_values = true, hide = true)]
    pub(crate) viewer_token: Option<String>,
    /// File holding the operator token: who signs in with it (in the dashboard, or as
    /// `Authorization: Bearer` from tools) may act on the clones of `serve --audit-root`: clone,
    /// commit, discard, fix remotes, delete to the trash. Without it, nobody can. At least 16
    /// characters, and not the viewer token.
    #[arg(long, env = "GITOPS_OPERATOR_TOKEN_FILE")]
    pub(crate) operator_token_file: Option<PathBuf>,
    /// The operator token itself (prefer --operator-token-file). Never logged.
    #[arg(
        long = "operator-token",
        env = "GITOPS_OPERATOR_TOKEN",
        hide_env_values = true,
        hide = true
    )]
    pub(crate) operator_token: Option<String>,
    /// How long an operator's session cookie lasts (e.g. 1h, 8h; more than zero).
    #[arg(long, env = "GITOPS_OPERATOR_SESSION_TTL", value_name = "DURATION", default_value = "8h", value_parser = cli::positive_duration)]
    pub(crate) operator_session_ttl: Duration,
    /// How long a viewer's session cookie lasts (e.g. 30m, 12h; more than zero).
    #[arg(long, env = "GITOPS_VIEWER_SESSION_TTL", value_name = "DURATION", default_value = "12h", value_parser = cli::positive_duration)]
    pub(crate) viewer_session_ttl: Duration,
    /// A header your reverse proxy sets to the signed-in user's name (e.g. Remote-User,
    /// X-Forwarded-User): requests from a --trusted-proxy address that carry it are signed in.
    #[arg(long, env = "GITOPS_VIEWER_PROXY_HEADER", value_name = "NAME")]
    pub(crate) viewer_proxy_header: Option<String>,
    /// Where the reverse proxy connects from (an address or a network like 10.0.0.0/8). From
    /// these, the proxy header signs viewers in and X-Forwarded-For names the client that
    /// per-address limits count; from anywhere else both are ignored. Repeat for more.
    #[arg(
        long = "trusted-proxy",
        env = "GITOPS_TRUSTED_PROXIES",
        value_delimiter = ',',
        default_value = "127.0.0.1,::1"
    )]
    pub(crate) trusted_proxies: Vec<gitops_transport::AddrRange>,
    /// Mark the session cookie Secure even without --tls-cert (when TLS ends at a reverse proxy).
    #[arg(long, env = "GITOPS_SECURE_COOKIES")]
    pub(crate) secure_cookies: bool,
    /// An origin allowed to use the API and WebSocket besides the server's own, scheme included,
    /// e.g. `https://dash.example.org` behind a reverse proxy (its name is then allowed as Host
    /// too). Repeat for more.
    #[arg(long = "allowed-origin", env = "GITOPS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub(crate) allowed_origins: Vec<String>,
    /// A name browsers may reach this server by (the Host header), besides IP addresses,
    /// localhost and this machine's own name: e.g. `nas.lan` or `*.home.arpa`. Any other name is
    /// refused with 421 (the defence against DNS rebinding). `*` turns the check off. Repeat for more.
    #[arg(
        long = "allowed-host",
        env = "GITOPS_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub(crate) allowed_hosts: Vec<String>,
    /// Real-time updates (WebSocket, SSE, long-poll). `off` is the rollback switch: clients poll /api/audit.
    #[arg(long, env = "GITOPS_REALTIME", default_value = "on", value_parser = ["on", "off"])]
    pub(crate) realtime: String,
    /// The most real-time clients at once.
    #[arg(long, env = "GITOPS_MAX_CLIENTS", default_value_t = 20_000)]
    pub(crate) max_clients: usize,
    /// The most real-time clients from one IP address at once [default: a tenth of
    /// --max-clients, so one address cannot take every slot].
    #[arg(long, env = "GITOPS_MAX_CLIENTS_PER_IP")]
    pub(crate) max_clients_per_ip: Option<usize>,
    /// How long a connection may be unable to write (its client stopped reading) before it is
    /// closed, e.g. 30s. Hidden: tests shorten it.
    #[arg(long, env = "GITOPS_WRITE_TIMEOUT", value_name = "DURATION", default_value = "30s", value_parser = cli::positive_duration, hide = true)]
    pub(crate) write_timeout: Duration,
    /// PEM certificate chain: serve HTTPS and WSS (TLS 1.2 and 1.3 only). Needs --tls-key.
    #[arg(long, env = "GITOPS_TLS_CERT", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "GITOPS_TLS_KEY", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// How often a WebSocket client is pinged (default 20s; more than zero). Hidden: the
    /// default suits real networks; tests shorten it to see dead peers dropped quickly.
    #[arg(long, env = "GITOPS_WS_PING_INTERVAL", hide = true, value_name = "DURATION", value_parser = cli::positive_duration)]
    pub(crate) ws_ping_interval: Option<Duration>,
    /// How long past a ping a silent WebSocket peer is considered dead (default 10s; more than
    /// zero). Hidden, like --ws-ping-interval.
    #[arg(long, env = "GITOPS_WS_PONG_TIMEOUT", hide = true, value_name = "DURATION", value_parser = cli::positive_duration)]
    pub(crate) ws_pong_timeout: Option<Duration>,
    /// On SIGTERM, the window over which real-time clients are closed (each at its own moment)
    /// and asked to come back (spread over the window after it), e.g. 2s or 10s; 0s closes
    /// them all at once. SIGINT (Ctrl-C) does not wait for it.
    #[arg(long, env = "GITOPS_DRAIN_WINDOW", value_name = "DURATION", default_value = "2s", value_parser = cli::duration)]
    pub(crate) drain_window: Duration,
}

/// Arguments of `gitops-live serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The report to watch, e.g. /srv/audit/GitRepoReport.json or audit-history/latest.json (a
    /// symlink swapped with `ln -sf` is followed). With --audit-root, where the report is written.
    #[arg(long, env = "GITOPS_REPORT")]
    pub(crate) report: PathBuf,
    /// Where the server keeps its log (the epoch, every published change, checkpoints), so a
    /// restart continues the same stream and clients resume without a snapshot. `none` keeps it
    /// in memory only. [default: $XDG_STATE_HOME/gitops-live, else ~/.local/state/gitops-live]
    #[arg(long, env = "GITOPS_STATE_DIR", value_name = "DIR|none")]
    pub(crate) state_dir: Option<String>,
    /// A folder of old report snapshots (`*.json`, the old producers' `audit-history/`) to import
    /// into a new log, oldest first, so the history starts with them. Without it, an
    /// `audit-history` folder beside --report is imported. Only a new (empty) log is imported
    /// into, so this happens once.
    #[arg(long, env = "GITOPS_HISTORY_IMPORT", value_name = "DIR")]
    pub(crate) history_import: Option<PathBuf>,
    /// Quiet time after the last change before the report is read (trailing edge only, so the
    /// final state of a burst is always read), e.g. 5ms; 0s reads at once.
    #[arg(long, env = "GITOPS_DEBOUNCE", value_name = "DURATION", default_value = "5ms", value_parser = cli::duration)]
    pub(crate) debounce: Duration,
    /// --debounce in the older spelling, where a bare number is milliseconds.
    #[arg(long, env = "GITOPS_DEBOUNCE_MS", hide = true, value_name = "MS", value_parser = cli::millis, conflicts_with = "debounce")]
    pub(crate) debounce_ms: Option<Duration>,
    /// Poll instead of using OS file events (for NFS and other mounts that do not report changes).
    #[arg(long, env = "GITOPS_FORCE_POLLING")]
    pub(crate) force_polling: bool,
    /// Interval of polling, when polling, e.g. 1s or 200ms (more than zero).
    #[arg(long, env = "GITOPS_POLL_INTERVAL", value_name = "DURATION", default_value = "1s", value_parser = cli::positive_duration)]
    pub(crate) poll_interval: Duration,
    /// --poll-interval in the older spelling, where a bare number is milliseconds.
    #[arg(long, env = "GITOPS_POLL_INTERVAL_MS", hide = true, value_name = "MS", value_parser = cli::positive_millis, conflicts_with = "poll_interval")]
    pub(crate) poll_interval_ms: Option<Duration>,
    /// The largest report accepted, in bytes; larger reports are refused and the last good one kept.
    #[arg(long, env = "GITOPS_MAX_REPORT_BYTES", default_value_t = 64 << 20)]
    pub(crate) max_report_bytes: usize,
    #[command(flatten)]
    pub(crate) audit: AuditOptions<ServeCommand>,
    /// With --audit-root: time between full audits (e.g. 300s, 5m, 1h; more than zero); single
    /// clones are re-audited as soon as they change.
    #[arg(long, env = "GITOPS_AUDIT_INTERVAL", value_name = "DURATION", default_value = "5m", value_parser = cli::positive_duration)]
    pub(crate) audit_interval: Duration,
    /// How often a new report is expected (e.g. 24h): when none arrives for longer, the
    /// dashboard, /api/ws/status and /metrics say the source is stale (the audit job may have
    /// stopped). With --audit-root it is twice --audit-interval unless given. Without either, no
    /// expectation.
    #[arg(long, env = "GITOPS_EXPECT_REPORT_EVERY", value_name = "DURATION", value_parser = cli::positive_duration)]
    pub(crate) expect_report_every: Option<Duration>,
    #[command(flatten)]
    pub(crate) actions: crate::remediate::ActionArgs,
    #[command(flatten)]
    pub(crate) notify: crate::notifications::NotifyArgs,
    #[command(flatten)]
    pub(crate) engine: crate::engine::EngineArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<std::process::ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let result = runtime.block_on(async {
        let watch = WatchConfig {
            debounce: args.debounce_ms.unwrap_or(args.debounce),
            poll_interval: args.poll_interval_ms.unwrap_or(args.poll_interval),
            force_polling: args.force_polling,
            // The watcher refuses larger files without reading them; it must use the same limit
            // as the parser, or its own 64 MiB default overrides a larger --max-report-bytes.
            max_bytes: u64::try_from(args.max_report_bytes).unwrap_or(u64::MAX),
            ..WatchConfig::new(&args.report)
        };
        let audit = args.audit.config()?;
        let source_path = audit.as_ref().map_or(args.report.as_path(), |config| &config.root);
        let feed = FeedConfig {
            path: source_path.display().to_string(),
            watch: if audit.is_some() { WatchState::Auditing } else { WatchState::Watching },
            parse: gitops_report::ParseOptions { max_bytes: args.max_report_bytes },
        };
        let state_dir = crate::state::StateDir::from_arg(args.state_dir.as_deref())?;
        let import =
            crate::import::ImportFrom::choose(args.history_import.as_deref(), &args.report);
        let engine = match &args.engine.engine {
            Some(url) => Some(crate::engine::Engine::connect(&args.engine, url)?),
            None => None,
        };
        let server =
            start(&args.server, feed, &state_dir, import.as_ref(), engine.as_ref()).await?;
        if let Some(engine) = &engine {
            engine.start(&server.feed, &server.live);
        }
        let expect_every = args
            .expect_report_every
            .or_else(|| audit.as_ref().map(|_| args.audit_interval.saturating_mul(2)));
        if let Some(every) = expect_every {
            server.feed.expect_reports_every(every);
            tokio::spawn(watchdog(server.feed.clone(), every));
        }
        let queue = server.notify_queue();
        let sends = engine.as_ref().map(|engine| {
            let gate = engine.gate.clone();
            std::sync::Arc::new(move || gate.may_publish()) as gitops_feed::PublishGate
        });
        if let Some(service) =
            crate::notifications::start(&server.feed, &args.notify, queue, sends)?
        {
            server.live.enable_notifications(service);
        }
        let source = match audit {
            Some(config) => {
                let (auditor, requests) = crate::live_audit::LiveAuditor::new();
                crate::remediate::enable(
                    &server.live,
                    &args.actions,
                    &config.root,
                    state_dir.path(),
                    server.action_log(),
                    Arc::new(auditor),
                )?;
                tokio::spawn(crate::live_audit::run(
                    server.feed.clone(),
                    config,
                    args.report.clone(),
                    args.audit_interval,
                    requests,
                ))
            }
            None => tokio::spawn(watch_source(server.feed.clone(), watch)),
        };
        let stop = server.run_until_signal().await;
        source.abort();
        stop
    });
    // A blocking task still running (an audit waiting on GitHub) must not hold the exit up.
    runtime.shutdown_timeout(result.as_ref().map_or(SHUTDOWN_GRACE, |stop| stop.grace()));
    result.map(|_| std::process::ExitCode::SUCCESS)
}

/// Checks the source for staleness often enough to notice within a twentieth of `every` (at
/// least every second, at most every minute).
pub(crate) async fn watchdog(feed: Arc<Feed>, every: Duration) {
    let check = (every / 20).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut ticks = tokio::time::interval(check);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        feed.check_staleness();
    }
}

/// How long stopping waits for blocking work (reads, audits) still in flight after the server
/// has drained.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A server that is listening.
pub(crate) struct Server {
    pub(crate) feed: Arc<Feed>,
    pub(crate) live: Arc<Live>,
    /// The state directory's pruning thread lives as long as the server.
    _state: crate::state::Opened,
    pub(crate) address: SocketAddr,
    scheme: &'static str,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds the listener and starts serving a feed kept in `state_dir`; the report source is
/// started by the caller.
pub(crate) async fn start(
    args: &ServerArgs,
    feed: FeedConfig,
    state_dir: &crate::state::StateDir,
    import: Option<&crate::import::ImportFrom>,
    engine: Option<&crate::engine::Engine>,
) -> anyhow::Result<Server> {
    let admin_token = token_from(
        args.admin_token_file.as_deref(),
        args.admin_token.as_deref(),
        "GITOPS_ADMIN_TOKEN",
    )?;
    let viewer_token = token_from(
        args.viewer_token_file.as_deref(),
        args.viewer_token.as_deref(),
        "GITOPS_VIEWER_TOKEN",
    )?;
    let operator_token = token_from(
        args.operator_token_file.as_deref(),
        args.operator_token.as_deref(),
        "GITOPS_OPERATOR_TOKEN",
    )?;
    if let (Some(operator), Some(viewer)) = (&operator_token, &viewer_token)
        && operator == viewer
    {
        anyhow::bail!(
            "the operator token is the viewer token: give the operator a token of its own, or \
             every viewer could act on the clones"
        );
    }
    let proxy_header = args
        .viewer_proxy_header
        .as_deref()
        .map(|name| {
            http::HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| format!("--viewer-proxy-header {name:?} is not a header name"))
        })
        .transpose()?;
    let config = TransportConfig {
        admin_token,
        viewer: gitops_transport::ViewerAuth {
            token: viewer_token,
            session_ttl: args.viewer_session_ttl,
            proxy_header,
            trusted_proxies: args.trusted_proxies.clone(),
            secure_cookies: args.secure_cookies,
        },
        operator: gitops_transport::OperatorAuth {
            token: operator_token,
            session_ttl: args.operator_session_ttl,
        },
        allowed_origins: args.allowed_origins.clone(),
        allowed_hosts: allowed_hosts(args),
        realtime: args.realtime == "on",
        max_clients: args.max_clients,
        max_clients_per_ip: args.max_clients_per_ip.unwrap_or((args.max_clients / 10).max(1)),
        write_timeout: args.write_timeout,
        tls: args.tls_cert.is_some(),
        ws: ws_limits(args),
        drain: args.drain_window,
        ..TransportConfig::default()
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let cert_pem =
                std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
            let key_pem =
                std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
            Some(gitops_transport::tls_config(&cert_pem, &key_pem)?)
        }
        _ => None,
    };
    let opened = match engine {
        Some(engine) => crate::state::open_engine_feed(state_dir, feed, engine)?,
        None => crate::state::open_feed(state_dir, feed, import)?,
    };
    let feed = opened.feed.clone();
    let live = Live::new(feed.clone(), config, Arc::new(EmbeddedDashboard));
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("listening on {}", args.bind))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let serving = match tls {
        Some(tls) => tokio::spawn(gitops_transport::serve_tls(live.clone(), listener, tls)),
        None => tokio::spawn(gitops_transport::serve(live.clone(), listener)),
    };
    if !EmbeddedDashboard::is_built() {
        tracing::warn!(
            "built without the dashboard: run `cargo xtask dashboard` and rebuild to embed it"
        );
    }
    Ok(Server { feed, live, address, scheme, serving, _state: opened })
}

/// The names the server answers to: the configured ones and this machine's own (its host name
/// and `<name>.local`), which an attacker's page cannot take over by DNS rebinding.
fn allowed_hosts(args: &ServerArgs) -> Vec<String> {
    let mut hosts = args.allowed_hosts.clone();
    let own = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let own = own.trim();
    if !own.is_empty() {
        let short = own.split('.').next().unwrap_or(own);
        hosts.extend([own.to_owned(), short.to_owned(), format!("{short}.local")]);
    }
    if !args.bind.ip().is_loopback() && args.allowed_hosts.is_empty() {
        tracing::info!(
            "listening beyond loopback: requests by IP address, localhost and {own:?} are served; \
             give the names users type with --allowed-host (or --allowed-origin behind a proxy)"
        );
    }
    hosts
}

/// Which signal stopped the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// SIGTERM, as systemd or `docker stop` send: clients are closed spread over the drain
    /// window, so a restart is not met by every client at once.
    Terminate,
    /// SIGINT (Ctrl-C on a terminal): clients are closed at once and the process leaves.
    Interrupt,
}

impl Stop {
    /// How long the runtime waits for blocking work still running (reads, an audit waiting on
    /// GitHub) once the server has stopped.
    pub(crate) fn grace(self) -> Duration {
        match self {
            Self::Terminate => SHUTDOWN_GRACE,
            Self::Interrupt => Duration::ZERO,
        }
    }
}

impl Server {
    /// Where notifications wait for delivery: the store in the state directory, or memory.
    pub(crate) fn notify_queue(&self) -> Arc<dyn crate::notifications::Queue> {
        self._state.notify_queue()
    }

    /// Where actions are logged: the store in the state directory, or memory.
    pub(crate) fn action_log(&self) -> Arc<dyn gitops_transport::ActionLog> {
        self._state.action_log()
    }

    /// Waits for SIGINT or SIGTERM, then shuts down: gracefully over the drain window on
    /// SIGTERM, at once on SIGINT (and on a SIGINT that arrives during the drain). Either way
    /// every real-time client is closed with 1001 and a reconnect delay.
    pub(crate) async fn run_until_signal(self) -> anyhow::Result<Stop> {
        // The handlers are installed before the address is printed: whoever starts the server
        // and waits for that line may signal it at once, and an uninstalled SIGINT kills.
        let mut signals = Signals::install()?;
        println!("gitops-live listening on {}://{}/", self.scheme, self.address);
        let mut stop = signals.next().await;
        self.live.shutdown();
        let mut serving = self.serving;
        match stop {
            Stop::Interrupt => {
                tracing::info!("interrupted: closing clients now with 1001 and a reconnect delay");
                close_clients_now(&self.live);
            }
            Stop::Terminate => {
                tracing::info!(
                    window = ?self.live.config().drain,
                    "shutting down: closing clients with 1001 and a reconnect delay over the drain window"
                );
                tokio::select! {
                    finished = &mut serving => {
                        finished.context("server task")?.context("serving")?;
                        return Ok(stop);
                    }
                    () = signals.interrupted() => {
                        tracing::info!("interrupted during the drain: closing the remaining clients now");
                        close_clients_now(&self.live);
                        stop = Stop::Interrupt;
                    }
                }
            }
        }
        serving.await.context("server task")?.context("serving")?;
        Ok(stop)
    }
}

/// Closes every real-time client now (with 1001 and a reconnect delay, as the transport closes
/// them at the end of the drain window) instead of each at its moment of the window.
fn close_clients_now(live: &Live) {
    live.hub().close_all(gitops_hub::CloseReason::Shutdown);
}

/// The stop signals, with their handlers installed.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())
                    .context("installing the SIGINT handler")?,
                terminate: signal(SignalKind::terminate())
                    .context("installing the SIGTERM handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next stop signal.
    async fn next(&mut self) -> Stop {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Stop::Interrupt,
                _ = self.terminate.recv() => Stop::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Stop::Interrupt
        }
    }

    /// The next SIGINT.
    async fn interrupted(&mut self) {
        #[cfg(unix)]
        {
            self.interrupt.recv().await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The WebSocket limits: the defaults, with the heartbeat timings given on the command line.
fn ws_limits(args: &ServerArgs) -> WsLimits {
    let defaults = WsLimits::default();
    WsLimits {
        ping_interval: args.ws_ping_interval.unwrap_or(defaults.ping_interval),
        pong_timeout: args.ws_pong_timeout.unwrap_or(defaults.pong_timeout),
        ..defaults
    }
}

/// A token from its file (preferred) or from the flag or environment variable `env_name`;
/// shorter than 16 characters is refused, so it cannot be guessed by trying.
fn token_from(
    file: Option<&Path>,
    value: Option<&str>,
    env_name: &str,
) -> anyhow::Result<Option<gitops_transport::Secret>> {
    let token = match (file, value) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the token file {}", path.display()))?
            .trim()
            .to_owned(),
        (None, Some(value)) => value.trim().to_owned(),
        (None, None) => return Ok(None),
    };
    if token.len() < 16 {
        match file {
            Some(path) => {
                anyhow::bail!("the token in {} is shorter than 16 characters", path.display())
            }
            None => anyhow::bail!("{env_name} is shorter than 16 characters"),
        }
    }
    Ok(Some(gitops_transport::Secret::new(token)))
}

/// Reads the report whenever the watcher says it changed, and hands what it read to the feed:
/// one watch event, one feed call. The feed keeps the last good state served when a read fails,
/// and says so; the next good read recovers by itself.
pub(crate) async fn watch_source(feed: Arc<Feed>, config: WatchConfig) {
    let mut watcher = match gitops_watch::watch(config) {
        Ok(watcher) => watcher,
        Err(error) => {
            feed.source_failed(&format!("cannot watch the report: {error}"));
            return;
        }
    };
    loop {
        let event = tokio::select! {
            event = watcher.next() => event,
            () = feed.triggered() => {
                watcher.trigger();
                continue;
            }
        };
        match event {
            None => {
                feed.source_failed("the report watcher stopped");
                return;
            }
            Some(WatchEvent::Changed { bytes, last_raw_event, resolved, .. }) => {
                if let Ok(published) = feed.load(&bytes, last_raw_event) {
                    tracing::debug!(?published, path = %resolved.display(), "report loaded");
                }
            }
            Some(WatchEvent::Missing { resolved, .. }) => {
                let reason = if feed.hub().cursor().is_some() {
                    format!("the report {} is missing", resolved.display())
                } else {
                    format!(
                        "the report {} does not exist yet: waiting for an audit job to write it",
                        resolved.display()
                    )
                };
                feed.source_failed(&reason);
            }
            Some(WatchEvent::Unreadable { error, resolved, .. }) => {
                feed.source_failed(&format!("cannot read {}: {error}", resolved.display()));
            }
            Some(WatchEvent::Mode(WatchMode::Watching)) => {
                feed.set_watch(WatchState::Watching, None)
            }
            Some(WatchEvent::Mode(WatchMode::Polling { reason })) => {
                feed.set_watch(WatchState::Polling, Some(reason.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_marks_a_silent_source_stale_without_waiting_in_real_time() {
        let feed = Feed::new(
            gitops_hub::Hub::new(gitops_hub::HubConfig::default()),
            FeedConfig {
                path: "/srv/audit/GitRepoReport.json".into(),
                watch: WatchState::Watching,
                parse: gitops_report::ParseOptions::default(),
            },
        );
        let every = Duration::from_secs(24 * 3600);
        feed.expect_reports_every(every);
        feed.publish(gitops_report::generate_report(3, 1), std::time::Instant::now());
        let dog = tokio::spawn(watchdog(feed.clone(), every));
        tokio::time::sleep(Duration::from_secs(23 * 3600)).await;
        assert!(feed.source().stale.is_none(), "23 h of a daily report is fine");
        // One check interval (a minute) past the day, it is stale.
        tokio::time::sleep(Duration::from_secs(3600 + 61)).await;
        let stale = feed.source().stale.expect("stale after a day and a minute");
        assert_eq!(stale.expected_every_s, 86_400);
        feed.publish(gitops_report::generate_report(3, 2), std::time::Instant::now());
        assert!(feed.source().stale.is_none(), "the next report clears it");
        dog.abort();
    }
}
