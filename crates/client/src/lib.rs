//! A Rust client for gitops-live: connect over WebSocket, keep the report state, resume with the
//! cursor after a disconnect and reconnect with full-jitter exponential backoff.
//!
//! [`LiveState`] is the protocol's client rules as a pure state machine (usable with any
//! transport; it lives in `gitops-protocol` and is re-exported here); [`Connection`] is one
//! WebSocket; [`Client`] puts them together and never gives up.
//!
//! ```no_run
//! # async fn example() -> Result<(), gitops_client::Error> {
//! let mut client = gitops_client::Client::new(gitops_client::ClientConfig::new("ws://127.0.0.1:3070/ws"));
//! loop {
//!     if let gitops_client::Event::Applied { cursor, .. } = client.next().await {
//!         let repos = client.state().report.as_ref().map_or(0, |r| r.repos.len());
//!         println!("{cursor}: {repos} repositories");
//!     }
//! }
//! # }
//! ```
#![warn(missing_docs)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
pub use gitops_protocol::{Applied, LiveState};
use gitops_protocol::{ClientMessage, CloseCode, Cursor, ServerMessage, parse_retry_ms};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The WebSocket could not be opened or broke; [`Client`] reconnects by itself, callers of
    /// [`Connection`] should reconnect with their cursor.
    #[error("websocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
    /// The server sent something that is not a protocol message (report it, it is a server
    /// bug), or a change did not fit the state (`gitops_protocol::Error::Apply`: ask for a
    /// snapshot, as [`Client`] does).
    #[error("protocol: {0}")]
    Protocol(#[from] gitops_protocol::Error),
    /// The URL is not a WebSocket URL.
    #[error("invalid url {0:?}")]
    InvalidUrl(String),
    /// The viewer token cannot be sent in a header (it holds a newline or other control
    /// character); fix the token.
    #[error("the viewer token cannot be sent in a header")]
    InvalidToken,
    /// A CA file could not be read or holds no certificate, or a certificate is unusable.
    #[error("tls: {0}")]
    Tls(String),
}

/// A DER-encoded certificate, for [`ConnectOptions::extra_roots`].
pub type Certificate = rustls::pki_types::CertificateDer<'static>;

/// Reads the PEM certificates in `path` (a homelab CA, or a self-signed server's own
/// certificate) for [`ConnectOptions::extra_roots`].
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<Certificate>> {
    use rustls::pki_types::pem::PemObject as _;
    let shown = path.display();
    let certificates = Certificate::pem_file_iter(path)
        .map_err(|e| Error::Tls(format!("reading {shown}: {e}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("reading {shown}: {e}")))?;
    if certificates.is_empty() {
        return Err(Error::Tls(format!("{shown} holds no PEM certificate")));
    }
    Ok(certificates)
}

/// The TLS settings of a `wss://` connection: the Mozilla roots (webpki-roots) plus `extra`.
fn tls_connector(extra: &[Certificate]) -> Result<tokio_tungstenite::Connector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra {
        roots.add(root.clone()).map_err(|e| Error::Tls(format!("an extra root: {e}")))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(config)))
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One WebSocket connection speaking the protocol.
#[derive(Debug)]
pub struct Connection {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What ended a connection, as far as the client can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The close code, when the server sent one (see [`Closed::close_code`]).
    pub code: Option<u16>,
    /// The close reason text.
    pub reason: String,
    /// The delay the server asked for before reconnecting (`retry-ms=N` in the reason).
    pub retry_after: Option<Duration>,
}

impl Closed {
    /// The close code as one of the protocol's, when it is one.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.code.and_then(CloseCode::from_code)
    }
}

/// The headers a connection opens with.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// The `Origin` header, as a browser page would send it.
    pub origin: Option<String>,
    /// The viewer token, sent as `Authorization: Bearer <token>` to a server that asks viewers to
    /// sign in (`--viewer-token-file`).
    pub bearer: Option<String>,
    /// Certificates trusted for `wss://` besides the Mozilla roots (see [`read_ca_file`]).
    pub extra_roots: Vec<Certificate>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("origin", &self.origin)
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

impl Connection {
    /// Opens `url` (e.g. `ws://127.0.0.1:3070/ws`), resuming from `since` when given.
    pub async fn open(url: &str, since: Option<Cursor>, origin: Option<&str>) -> Result<Self> {
        let options = ConnectOptions { origin: origin.map(str::to_owned), ..Default::default() };
        Self::open_with(url, since, &options).await
    }

    /// [`Connection::open`] with every header option; `wss://` URLs trust the Mozilla roots and
    /// [`ConnectOptions::extra_roots`].
    pub async fn open_with(
        url: &str,
        since: Option<Cursor>,
        options: &ConnectOptions,
    ) -> Result<Self> {
        let url = match since {
            Some(cursor) => {
                format!("{url}{}since={cursor}", if url.contains('?') { '&' } else { '?' })
            }
            None => url.to_owned(),
        };
        let mut request =
            url.as_str().into_client_request().map_err(|_| Error::InvalidUrl(url.clone()))?;
        if let Some(origin) = &options.origin {
            let value = origin.parse().map_err(|_| Error::InvalidUrl(origin.clone()))?;
            request.headers_mut().insert("origin", value);
        }
        if let Some(token) = &options.bearer {
            let value = format!("Bearer {token}").parse().map_err(|_| Error::InvalidToken)?;
            request.headers_mut().insert("authorization", value);
        }
        let connector = if url.starts_with("wss://") {
            Some(tls_connector(&options.extra_roots)?)
        } else {
            None
        };
        let (socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector)
                .await?;
        Ok(Self { socket })
    }

    /// The next server message; `Ok(Err(closed))` when the connection ended.
    pub async fn recv(&mut self) -> Result<std::result::Result<ServerMessage, Closed>> {
        loop {
            let Some(frame) = self.socket.next().await else {
                return Ok(Err(Closed { code: None, reason: String::new(), retry_after: None }));
            };
            match frame {
                Ok(Message::Text(text)) => return Ok(Ok(ServerMessage::decode(text.as_bytes())?)),
                Ok(Message::Close(frame)) => {
                    let (code, reason) = frame.map_or((None, String::new()), |f| {
                        (Some(u16::from(f.code)), f.reason.to_string())
                    });
                    let retry_after = parse_retry_ms(&reason).map(Duration::from_millis);
                    return Ok(Err(Closed { code, reason, retry_after }));
                }
                Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(Err(Closed {
                        code: None,
                        reason: String::new(),
                        retry_after: None,
                    }));
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Sends a client message.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<()> {
        let text = String::from_utf8_lossy(&message.encode()).into_owned();
        self.socket.send(Message::Text(text.into())).await?;
        Ok(())
    }

    /// Sends raw text as one message (for tests of how a server treats malformed input).
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.socket.send(Message::Text(text.into())).await?;
        Ok(())
    }

    /// Closes the connection normally.
    pub async fn close(mut self) -> Result<()> {
        let code = CloseCode::Normal.code().into();
        let frame = tungstenite::protocol::CloseFrame { code, reason: "bye".into() };
        self.socket.close(Some(frame)).await?;
        Ok(())
    }
}

/// Reconnect timing: full-jitter exponential backoff (a random delay in `[0, min(cap, base·2ⁿ)]`).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first ceiling.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_millis(250), cap: Duration::from_secs(10) }
    }
}

impl Backoff {
    /// The delay before reconnect attempt `attempt` (0 for the first retry), given a random `u64`.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.cap);
        let ceiling_ms = ceiling.as_millis() as u64;
        Duration::from_millis(random % (ceiling_ms + 1))
    }
}

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The WebSocket URL, e.g. `ws://127.0.0.1:3070/ws`.
    pub url: String,
    /// The `Origin` header and viewer token to send, if any.
    pub connect: ConnectOptions,
    /// Reconnect timing.
    pub backoff: Backoff,
    /// Seed of the jitter; fixed seeds give reproducible schedules in tests.
    pub seed: u64,
}

impl ClientConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Self {
            url: url.into(),
            connect: ConnectOptions::default(),
            backoff: Backoff::default(),
            seed,
        }
    }
}

/// Something that happened to a [`Client`].
#[derive(Debug)]
pub enum Event {
    /// A connection was opened (resuming from `since` when it is `Some`).
    Connected {
        /// The cursor brought to the server.
        since: Option<Cursor>,
    },
    /// A state-bearing message advanced the state.
    Applied {
        /// The new cursor.
        cursor: Cursor,
        /// The message's `type`.
        kind: &'static str,
    },
    /// A non-state message arrived (status, pong, error), or a state message that could not be
    /// applied (the client has asked the server to close the gap).
    Message(Box<ServerMessage>),
    /// The connection ended or could not be opened; the client waits `retry_in`, then reconnects.
    Disconnected {
        /// Why.
        reason: String,
        /// How long until the next attempt.
        retry_in: Duration,
    },
}

/// A client that keeps a [`LiveState`] up to date over reconnects.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    state: LiveState,
    connection: Option<Connection>,
    attempt: u32,
    rng: u64,
    pending_delay: Option<Duration>,
}

impl Client {
    /// A client that connects on the first call to [`Client::next`].
    pub fn new(config: ClientConfig) -> Self {
        let rng = config.seed | 1;
        Self {
            config,
            state: LiveState::default(),
            connection: None,
            attempt: 0,
            rng,
            pending_delay: None,
        }
    }

    /// The state as of the last applied message.
    pub fn state(&self) -> &LiveState {
        &self.state
    }

    /// Drops the connection now (as a network failure would); the next call reconnects and resumes.
    pub fn disconnect(&mut self) {
        self.connection = None;
    }

    /// Drives the client until something happens.
    pub async fn next(&mut self) -> Event {
        if let Some(delay) = self.pending_delay.take() {
            tokio::time::sleep(delay).await;
        }
        let Some(connection) = self.connection.as_mut() else {
            let since = self.state.cursor;
            return match Connection::open_with(&self.config.url, since, &self.config.connect).await
            {
                Ok(connection) => {
                    self.connection = Some(connection);
                    Event::Connected { since }
                }
                Err(error) => self.schedule_retry(error.to_string(), None),
            };
        };
        match connection.recv().await {
            Ok(Ok(message)) => {
                let kind = message.kind().as_str();
                match self.state.apply(message.clone()) {
                    Ok(Applied::Advanced(cursor)) => {
                        self.attempt = 0;
                        Event::Applied { cursor, kind }
                    }
                    Ok(Applied::Gap) | Err(_) => {
                        // Ask the server to close the gap; with no usable cursor it sends a snapshot.
                        let resume = match self.state.cursor {
                            Some(since) => ClientMessage::Resume { since },
                            None => ClientMessage::RequestUpdate,
                        };
                        if let Err(error) = connection.send(&resume).await {
                            return self.schedule_retry(error.to_string(), None);
                        }
                        Event::Message(Box::new(message))
                    }
                    Ok(Applied::Stale | Applied::NotState) => Event::Message(Box::new(message)),
                }
            }
            Ok(Err(closed)) => {
                let reason = format!("closed ({:?}) {}", closed.code, closed.reason);
                self.schedule_retry(reason, closed.retry_after)
            }
            Err(error) => self.schedule_retry(error.to_string(), None),
        }
    }

    fn schedule_retry(&mut self, reason: String, server_hint: Option<Duration>) -> Event {
        self.connection = None;
        let random = self.random();
        let delay = server_hint.unwrap_or_else(|| self.config.backoff.delay(self.attempt, random));
        self.attempt = self.attempt.saturating_add(1);
        self.pending_delay = Some(delay);
        Event::Disconnected { reason, retry_in: delay }
    }

    fn random(&mut self) -> u64 {
        // xorshift64: plenty for spreading reconnects.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_the_growing_ceiling_and_the_cap() {
        let backoff = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(2) };
        for attempt in 0..40 {
            let ceiling =
                Duration::from_millis(100 * (1u64 << attempt.min(20))).min(Duration::from_secs(2));
            for random in [0, 1, 77, u64::MAX / 3, u64::MAX] {
                assert!(backoff.delay(attempt, random) <= ceiling, "attempt {attempt}");
            }
        }
        assert_eq!(backoff.delay(0, 0), Duration::ZERO);
        assert_eq!(backoff.delay(3, 800), Duration::from_millis(800));
    }

    #[test]
    fn the_viewer_token_never_shows_in_debug_output() {
        let config = ClientConfig {
            connect: ConnectOptions {
                bearer: Some("hunter2-hunter2".into()),
                ..ConnectOptions::default()
            },
            ..ClientConfig::new("ws://127.0.0.1:1/ws")
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
