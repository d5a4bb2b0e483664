//! `/ws`: the WebSocket upgrade, one task per connection, heartbeats, limits and close codes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gitops_hub::{Delivery, Subscription};
use gitops_protocol::{ClientMessage, Cursor, ErrorCode, Pong, encode_error, encode_pong};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes, error::CapacityError};

use crate::http_util::{Body, empty, error, retry_later};
use crate::session::{Alone, Driver, Ending, Fault, Inbound, Step, Turn, Violation};
use crate::{ClientGuard, ClientKind, Live, Refusal, now_rfc3339};

mod outlet;
mod wire;

use outlet::{Left, Outlet, OutletWrite};
use wire::{Frames, Reader, Split, Writer};

/// WebSocket limits and heartbeats.
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    /// The largest inbound message; larger closes with 1009.
    pub max_message_bytes: usize,
    /// The largest inbound frame; larger closes with 1009.
    pub max_frame_bytes: usize,
    /// The read buffer allocated (and zero-filled) per connection, and the most read from the
    /// socket at once. tungstenite's default is 128 KiB; clients send a few small messages
    /// (`ping`, `resume`, under 100 bytes), so 1 KiB is plenty, and a larger inbound message still
    /// works (the buffer grows to the frame's length, in reads of this size). At 4 KiB this buffer
    /// was half of an idle connection's memory (heaptrack, 2,000 idle clients: 4,096 of ~8,000 bytes).
    pub read_buffer_bytes: usize,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// How long past a ping a silent peer is considered dead.
    pub pong_timeout: Duration,
    /// How long one batch of writes may take before the client is closed as stalled (4000).
    pub send_timeout: Duration,
    /// Inbound messages allowed per second on average; more closes with 1008.
    pub messages_per_second: f64,
    /// Inbound messages allowed in a burst.
    pub message_burst: f64,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 << 10,
            max_frame_bytes: 64 << 10,
            read_buffer_bytes: 1 << 10,
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            messages_per_second: 20.0,
            message_burst: 40.0,
        }
    }
}

impl WsLimits {
    /// tungstenite's settings on the read half (the write side is [`wire::Writer`]'s).
    fn reader_config(&self) -> WebSocketConfig {
        wire::reader_config(self.read_buffer_bytes, self.max_message_bytes, self.max_frame_bytes)
    }
}

/// Checks the handshake headers and builds the `101 Switching Protocols` answer.
#[expect(clippy::result_large_err, reason = "both outcomes are responses, built once per request")]
fn handshake(
    version: http::Version,
    headers: &HeaderMap,
) -> Result<Response<Body>, Response<Body>> {
    // RFC 6455 §4.1: the opening handshake is an HTTP/1.1 (or later) GET.
    if version < http::Version::HTTP_11 {
        return Err(error(
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "http-version",
            "a WebSocket upgrade needs HTTP/1.1",
        ));
    }
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        let mut response = error(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade-required",
            "this path speaks WebSocket only",
        );
        response.headers_mut().insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return Err(response);
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v != "13") {
        let mut response =
            error(StatusCode::UPGRADE_REQUIRED, "version", "only WebSocket version 13 is spoken");
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(response);
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(error(StatusCode::BAD_REQUEST, "bad-handshake", "missing Sec-WebSocket-Key"));
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    Ok(response)
}

/// Reads `since=<cursor>` from a query string: `Ok(None)` when absent, `Err` when unreadable.
pub(crate) fn since_from_query(query: Option<&str>) -> Result<Option<Cursor>, String> {
    let Some(query) = query else { return Ok(None) };
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("since=") {
            if value.is_empty() {
                return Ok(None);
            }
            let value = value.replace("%3A", ":").replace("%3a", ":");
            return value.parse().map(Some).map_err(|_| value);
        }
    }
    Ok(None)
}

pub(crate) fn refusal_response(live: &Live, refusal: Refusal) -> Response<Body> {
    live.metrics.refused.fetch_add(1, Ordering::Relaxed);
    match refusal {
        Refusal::TooManyFromIp => retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-from-ip",
            "too many connections from this address",
            5,
        ),
        Refusal::TooMany => retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "too-many",
            "the server is at its connection limit",
            5,
        ),
    }
}

/// Answers `GET /ws`: refuses (never 101) on a bad origin, a bad handshake, the rollback switch
/// or a connection limit; otherwise subscribes to the hub *before* answering 101, so no change
/// landing during the upgrade is lost.
pub(crate) fn upgrade(
    live: Arc<Live>,
    mut request: Request<Incoming>,
    remote: SocketAddr,
    session_end: Option<tokio::time::Instant>,
) -> Response<Body> {
    if !live.origin_allowed(request.headers()) {
        live.metrics.origin_refused.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::FORBIDDEN, "origin", "this origin may not open a WebSocket here");
    }
    if !live.config.realtime {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "realtime-off",
            "real-time updates are switched off; poll /api/audit",
        );
    }
    let response = match handshake(request.version(), request.headers()) {
        Ok(response) => response,
        Err(response) => return response,
    };
    let (since, bad_cursor) = match since_from_query(request.uri().query()) {
        Ok(since) => (since, None),
        Err(text) => (None, Some(text)),
    };
    let guard = match live.register(ClientKind::Ws, remote) {
        Ok(guard) => guard,
        Err(refusal) => return refusal_response(&live, refusal),
    };
    let subscription = live.hub.subscribe(since);
    if let Some(text) = bad_cursor {
        subscription.push_control(encode_error(
            ErrorCode::BadCursor,
            &format!("unreadable cursor {text:?}; sending a snapshot"),
        ));
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    let config = live.config.ws.reader_config();
    // Taken before the HTTP connection hands the socket over, so a draining server never sees
    // a moment with neither holding the shutdown signal.
    let shutdown = live.shutdown_signal();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let split = Split::new(upgraded, config).await;
                run_split(live, split, subscription, guard, session_end, shutdown).await;
            }
            Err(error) => tracing::debug!(%error, %remote, "upgrade failed"),
        }
    });
    response
}

/// Counts inbound messages against a rate with a burst allowance.
struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self { tokens: burst, rate, burst, last: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A client's message, handed back by the session loop for this transport to answer.
enum Received {
    Text(Utf8Bytes),
    Binary,
    /// A ping: tungstenite has formatted its pong, to be written now.
    Ping,
}

/// What one read from the peer means: a message to answer, a fault that ends the session, or
/// nothing (pongs, which only prove the peer alive).
fn classify(read: Option<Result<Message, WsError>>) -> Option<Inbound<Received>> {
    Some(match read {
        Some(Ok(Message::Text(text))) => Inbound::Message(Received::Text(text)),
        Some(Ok(Message::Binary(_))) => Inbound::Message(Received::Binary),
        Some(Ok(Message::Ping(_))) => Inbound::Message(Received::Ping),
        Some(Ok(Message::Pong(_) | Message::Frame(_))) => return None,
        Some(Ok(Message::Close(_))) | None => Inbound::Event(Fault::PeerClosed),
        Some(Err(error)) => {
            tracing::debug!(%error, "websocket read failed");
            Inbound::Event(read_fault(&error))
        }
    })
}

/// Runs a session on a connection split by [`Split::new`].
async fn run_split(
    live: Arc<Live>,
    split: Split,
    subscription: Subscription,
    guard: ClientGuard,
    session_end: Option<tokio::time::Instant>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    match split {
        Split::Tcp(reader, write) => {
            let cursor = guard.cursor_cell().clone();
            let wake = subscription.wake_handle();
            let live_for_outlet = live.clone();
            let write =
                write.map(|half| OutletWrite(Outlet::new(half, live_for_outlet, cursor, wake)));
            let outlet = write.get_ref().0.clone();
            subscription.set_sink(outlet.clone());
            let writer = Writer::new(write);
            run(live, reader, writer, subscription, guard, session_end, shutdown, outlet).await;
        }
        Split::Bare(reader, writer) => {
            run(live, reader, writer, subscription, guard, session_end, shutdown, Alone).await;
        }
        Split::Other(reader, writer) => {
            run(live, reader, writer, subscription, guard, session_end, shutdown, Alone).await;
        }
    }
}

/// What a session's [`Turn`] may leave it to finish: a batch the publisher cut, or (for a
/// session nobody else writes to) nothing.
trait Leftover {
    fn into_left(self) -> Left;
}

impl Leftover for Left {
    fn into_left(self) -> Left {
        self
    }
}

impl Leftover for std::convert::Infallible {
    fn into_left(self) -> Left {
        match self {}
    }
}

#[expect(clippy::too_many_arguments, reason = "one call site per kind of connection")]
async fn run<R, W, U>(
    live: Arc<Live>,
    mut reader: Reader<R>,
    mut writer: Writer<W>,
    subscription: Subscription,
    guard: ClientGuard,
    session_end: Option<tokio::time::Instant>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    turn: U,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    U: Turn,
    U::Left: Leftover,
{
    let limits = live.config.ws;
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + limits.ping_interval,
        limits.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A peer silent for a ping interval plus the pong timeout is dead: every inbound frame (our
    // pings' pongs included) pushes this deadline back, so detection takes exactly that long.
    let dead_after = limits.ping_interval + limits.pong_timeout;
    let silence = tokio::time::sleep(dead_after);
    tokio::pin!(silence);
    let mut bucket = TokenBucket::new(limits.messages_per_second, limits.message_burst);
    // One timer for the planned ends of the connection, inline in this task: see `Session`.
    let planned_end = tokio::time::sleep_until(session_end.unwrap_or_else(crate::far_future));
    tokio::pin!(planned_end);
    let mut driver =
        Driver::new(subscription, shutdown, planned_end, ping, live.config.drain, BATCH_MAX, turn);

    let ending = loop {
        // The reads: cancel-safe (`StreamExt::next`), so dropping this whenever another source
        // wins loses nothing.
        let inbound = async {
            loop {
                tokio::select! {
                    read = reader.next() => {
                        silence.as_mut().reset(tokio::time::Instant::now() + dead_after);
                        if let Some(inbound) = classify(read) {
                            return inbound;
                        }
                    }
                    () = silence.as_mut() => return Inbound::Event(Fault::PeerSilent),
                }
            }
        };
        match driver.next(inbound).await {
            Step::Send(batch) => {
                if let Err(fault) =
                    send_batch(&live, &mut reader, &mut writer, &guard, &batch).await
                {
                    break fault.ending();
                }
            }
            Step::Finish(left) => {
                if let Err(fault) = finish(&live, &mut writer, &guard, left.into_left()).await {
                    break fault.ending();
                }
            }
            Step::Heartbeat => {
                let replies = wire::replies(&mut reader);
                let mut frames = Frames::with_capacity(2);
                frames.raw(&replies);
                frames.ping();
                if let Err(fault) = write_within(&mut writer, &frames, limits.send_timeout).await {
                    break fault.ending();
                }
            }
            // Pings are answered at once and not counted against the message rate (as before
            // the writer was ours); a flood of them holds at most one pong (see `wire`).
            Step::Received(Received::Ping) => {
                let replies = wire::replies(&mut reader);
                let mut frames = Frames::with_capacity(1);
                frames.raw(&replies);
                if let Err(fault) = write_within(&mut writer, &frames, limits.send_timeout).await {
                    break fault.ending();
                }
            }
            Step::Received(message) => {
                if !bucket.take() {
                    break Fault::Broke(Violation::TooManyMessages).ending();
                }
                match message {
                    Received::Text(text) => {
                        handle_client_message(&live, driver.subscription(), text.as_bytes());
                    }
                    Received::Binary => driver.subscription().push_control(encode_error(
                        ErrorCode::BadMessage,
                        "binary messages are not part of the protocol",
                    )),
                    Received::Ping => {}
                }
            }
            Step::End(ending) => break ending,
        }
    };
    if ending.is_policy_close() {
        live.metrics.policy_closes.fetch_add(1, Ordering::Relaxed);
    }
    // Boxed: it runs once, at the end, and its timers and linger would otherwise be part of
    // every idle connection's task (measured in a release build: the task future is 2,472 bytes with it inline, 1,904 boxed).
    Box::pin(close(reader, writer, ending)).await;
    drop(driver);
    drop(guard);
}

/// Writes `frames` within `timeout`: a failed write is [`Fault::WriteFailed`], a late one
/// [`Fault::WriteTimedOut`].
async fn write_within<W: AsyncWrite + Unpin>(
    writer: &mut Writer<W>,
    frames: &Frames<'_>,
    timeout: Duration,
) -> Result<(), Fault> {
    if frames.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(timeout, writer.write(frames)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Fault::WriteFailed),
        Err(_) => Err(Fault::WriteTimedOut),
    }
}

/// The fault of a read that failed: 1007 for text that is not UTF-8, 1002 for a broken frame
/// (reserved bits, an unmasked client frame, a bad opcode or length), as RFC 6455 §7.4.1 names
/// them, 1009 for a message or frame over the limits; an IO error means the peer is gone.
fn read_fault(error: &WsError) -> Fault {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            Fault::Broke(Violation::MessageTooLarge)
        }
        WsError::Capacity(_) => Fault::Broke(Violation::FrameTooLarge),
        WsError::Utf8(_) => Fault::Broke(Violation::InvalidUtf8),
        WsError::Protocol(violation) => Fault::Broke(Violation::Protocol(violation.to_string())),
        _ => Fault::PeerClosed,
    }
}

/// How long a closing connection keeps reading for the peer's close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// The most bytes read and dropped while waiting for the peer's close frame.
const CLOSE_LINGER_BYTES: usize = 1 << 20;

/// Ends a connection without losing the close frame.
///
/// Dropping a socket whose receive buffer still holds unread bytes makes the kernel answer with
/// a reset, and the reset can overtake the close frame sent just before (a client flooding
/// messages got RST instead of 1008 in 13 to 18 of 20 tries). So after sending the close the
/// server keeps reading, and dropping, until the peer's own close or end of stream (within
/// [`CLOSE_LINGER`] and [`CLOSE_LINGER_BYTES`]), then shuts its side down for writing, then drops.
///
/// When the peer closed first, its close is answered with tungstenite's reply (the clean closing
/// handshake); a peer gone otherwise is sent a close frame without a code, as a courtesy. A
/// connection whose last write was cut inside a frame (a send timeout) gets nothing more.
async fn close<R, W>(mut reader: Reader<R>, mut writer: Writer<W>, ending: Ending)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let replies = wire::replies(&mut reader);
    if !writer.is_torn() {
        match ending {
            Ending::Close { code, reason, .. } => {
                let payload = wire::close_payload(code.code(), &reason);
                let mut frames = Frames::with_capacity(2);
                frames.raw(&replies);
                frames.close(&payload);
                let sent = write_within(&mut writer, &frames, Duration::from_secs(1)).await;
                if sent.is_ok() {
                    let linger = async {
                        let mut dropped = 0usize;
                        while let Some(Ok(message)) = reader.next().await {
                            if matches!(message, Message::Close(_)) {
                                break;
                            }
                            dropped += message.len();
                            if dropped > CLOSE_LINGER_BYTES {
                                break;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(CLOSE_LINGER, linger).await;
                }
            }
            Ending::Gone { .. } => {
                let mut frames = Frames::with_capacity(1);
                if replies.is_empty() {
                    frames.close(&[]);
                } else {
                    frames.raw(&replies);
                }
                let _ = write_within(&mut writer, &frames, Duration::from_secs(1)).await;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
}

/// The most messages written in one vectored write.
const BATCH_MAX: usize = 64;

/// Writes `batch` (after any pong tungstenite holds) in one vectored write, within the send
/// timeout. Every message goes out from the hub's shared bytes.
async fn send_batch<R, W>(
    live: &Live,
    reader: &mut Reader<R>,
    writer: &mut Writer<W>,
    guard: &ClientGuard,
    batch: &[Delivery],
) -> Result<(), Fault>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let replies = wire::replies_kept(reader);
    let mut frames = Frames::with_capacity(batch.len() + 1);
    frames.raw(&replies);
    for delivery in batch {
        frames.message(wire::OP_TEXT, &delivery.bytes);
    }
    write_within(writer, &frames, live.config.ws.send_timeout).await?;
    drop(frames);
    outlet::delivered(live, guard.cursor_cell(), batch);
    Ok(())
}

/// Finishes the batch the publisher could not (see `outlet`): the rest of its frames, within
/// the send timeout, before anything else is written.
async fn finish<W: AsyncWrite + Unpin>(
    live: &Live,
    writer: &mut Writer<W>,
    guard: &ClientGuard,
    left: Left,
) -> Result<(), Fault> {
    if left.failed {
        return Err(Fault::WriteFailed);
    }
    let mut frames = Frames::with_capacity(left.batch.len());
    for delivery in &left.batch {
        frames.message(wire::OP_TEXT, &delivery.bytes);
    }
    let write = writer.write_from(&frames, left.written);
    match tokio::time::timeout(live.config.ws.send_timeout, write).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(Fault::WriteFailed),
        Err(_) => return Err(Fault::WriteTimedOut),
    }
    drop(frames);
    outlet::delivered(live, guard.cursor_cell(), &left.batch);
    Ok(())
}

/// Answers one client message; the old dashboard's messages are always answered.
fn handle_client_message(live: &Live, subscription: &Subscription, bytes: &[u8]) {
    match ClientMessage::decode(bytes) {
        Ok(ClientMessage::Resume { since }) => {
            subscription.resume(Some(since));
        }
        Ok(ClientMessage::Ping { ts }) => {
            subscription.push_control(encode_pong(&Pong { ts, server_time: now_rfc3339() }));
        }
        Ok(ClientMessage::RequestUpdate) => subscription.request_snapshot(),
        // Answered with the status as it is now: the broadcast copy may be up to a status
        // interval old (client counts are coalesced).
        Ok(ClientMessage::GetStatus) => subscription
            .push_control(gitops_protocol::encode_connection_status(&live.connection_status())),
        Err((code, message)) => subscription.push_control(encode_error(code, &message)),
    }
}

#[cfg(feature = "conformance")]
/// Serves an echo WebSocket at every path, through the same handshake, limits, reader and
/// writer as `/ws`: the target of the Autobahn conformance suite. Not used by the product.
pub async fn serve_echo(
    listener: tokio::net::TcpListener,
    limits: WsLimits,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let service =
            hyper::service::service_fn(move |mut request: Request<Incoming>| async move {
                let response = match handshake(request.version(), request.headers()) {
                    Ok(response) => {
                        let on_upgrade = hyper::upgrade::on(&mut request);
                        let config = limits.reader_config();
                        tokio::spawn(async move {
                            if let Ok(upgraded) = on_upgrade.await {
                                match Split::new(upgraded, config).await {
                                    Split::Tcp(reader, writer) => {
                                        echo(reader, Writer::new(writer)).await
                                    }
                                    Split::Bare(reader, writer) => echo(reader, writer).await,
                                    Split::Other(reader, writer) => echo(reader, writer).await,
                                }
                            }
                        });
                        response
                    }
                    Err(response) => response,
                };
                Ok::<_, std::convert::Infallible>(response)
            });
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new());
            let _ = builder
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

#[cfg(feature = "conformance")]
async fn echo<R, W>(mut reader: Reader<R>, mut writer: Writer<W>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while let Some(message) = reader.next().await {
        let replies = wire::replies(&mut reader);
        let mut frames = Frames::with_capacity(2);
        frames.raw(&replies);
        let last = match &message {
            Ok(Message::Text(text)) => {
                frames.message(wire::OP_TEXT, text.as_bytes());
                false
            }
            Ok(Message::Binary(bytes)) => {
                frames.message(wire::OP_BINARY, bytes);
                false
            }
            // The peer's close: `replies` holds tungstenite's answer, the clean closing handshake.
            Ok(Message::Close(_)) => true,
            Ok(_) => false,
            // The same codes as `/ws`: 1009 over the limits, 1007 for bad UTF-8, 1002 for a
            // broken frame.
            Err(error) => {
                if let Ending::Close { code, reason, .. } = read_fault(error).ending() {
                    let payload = wire::close_payload(code.code(), &reason);
                    let mut frames = Frames::with_capacity(2);
                    frames.raw(&replies);
                    frames.close(&payload);
                    let _ = writer.write(&frames).await;
                }
                break;
            }
        };
        if writer.write(&frames).await.is_err() || last {
            break;
        }
    }
    let _ = writer.shutdown().await;
}
