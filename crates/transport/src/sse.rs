//! The fallback transports: Server-Sent Events (`/api/events`) and long-poll (`/api/updates`).
//! Both carry the same messages and cursor as the WebSocket.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream;
use gitops_hub::{Delivery, Next, Subscription};
use gitops_protocol::{Cursor, MessageKind};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};

use crate::http_util::{Body, error, json};
use crate::session::{Alone, Driver, Ending, Inbound, Step};
use crate::ws::{refusal_response, since_from_query};
use crate::{ClientGuard, ClientKind, Live};

/// The cursor a fallback client brings: `Last-Event-ID` (SSE reconnects) or `?since=`.
#[expect(
    clippy::result_large_err,
    reason = "the refusal is the response itself, built once per request"
)]
fn since(request: &Request<Incoming>) -> Result<Option<Cursor>, Response<Body>> {
    if let Some(last) = request.headers().get("last-event-id").and_then(|v| v.to_str().ok())
        && let Ok(cursor) = last.parse()
    {
        return Ok(Some(cursor));
    }
    since_from_query(request.uri().query()).map_err(|text| {
        error(StatusCode::BAD_REQUEST, "bad-cursor", &format!("unreadable cursor {text:?}"))
    })
}

fn realtime_off() -> Response<Body> {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "realtime-off",
        "real-time updates are switched off; poll /api/audit",
    )
}

/// Checks the rollback switch, reads the cursor, registers the client and subscribes it: the
/// common start of both fallback transports. The refusal is the response to send.
fn open(
    live: &Arc<Live>,
    request: &Request<Incoming>,
    remote: SocketAddr,
    kind: ClientKind,
) -> Result<(Subscription, ClientGuard), Box<Response<Body>>> {
    if !live.config.realtime {
        return Err(Box::new(realtime_off()));
    }
    let since = since(request).map_err(Box::new)?;
    let guard =
        live.register(kind, remote).map_err(|refusal| Box::new(refusal_response(live, refusal)))?;
    Ok((live.hub.subscribe(since), guard))
}

/// One SSE event: `id:` only on state-bearing messages, so `Last-Event-ID` is always a cursor;
/// `event:` is the message's kind, which the protocol reads off the encoded bytes' first
/// characters without parsing them (`message`, SSE's default, for anything else).
fn sse_event(delivery: &Delivery) -> Bytes {
    let mut out = BytesMut::with_capacity(delivery.bytes.len() + 64);
    if let Some(cursor) = delivery.cursor {
        out.put_slice(format!("id: {cursor}\n").as_bytes());
    }
    out.put_slice(b"event: ");
    let kind = MessageKind::of_encoded(&delivery.bytes).map_or("message", MessageKind::as_str);
    out.put_slice(kind.as_bytes());
    out.put_slice(b"\ndata: ");
    // Encoded JSON never contains a raw newline, so one data line carries the whole message.
    out.put_slice(&delivery.bytes);
    out.put_slice(b"\n\n");
    out.freeze()
}

struct SseState {
    live: Arc<Live>,
    guard: ClientGuard,
    /// The session loop; its planned-end timer is boxed, as this state moves with every poll.
    driver: Driver<Box<tokio::time::Sleep>, std::convert::Infallible>,
    preamble: Option<Bytes>,
    ended: bool,
}

/// `GET /api/events`: a Server-Sent Events stream of every message, resuming from
/// `Last-Event-ID` or `?since=`.
pub(crate) fn events(
    live: Arc<Live>,
    request: &Request<Incoming>,
    remote: SocketAddr,
    session_end: Option<tokio::time::Instant>,
) -> Response<Body> {
    let (subscription, guard) = match open(&live, request, remote, ClientKind::Sse) {
        Ok(opened) => opened,
        Err(response) => return *response,
    };
    let period = live.config.sse_heartbeat;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shutdown = live.shutdown_signal();
    // The stream ends when the viewer's session does; the browser's retry then gets a 401.
    let planned_end =
        Box::pin(tokio::time::sleep_until(session_end.unwrap_or_else(crate::far_future)));
    let drain = live.config.drain;
    let state = SseState {
        live,
        guard,
        driver: Driver::new(
            subscription,
            shutdown,
            planned_end,
            heartbeat,
            drain,
            BATCH_MAX,
            Alone,
        ),
        preamble: Some(Bytes::from_static(b"retry: 2000\n\n")),
        ended: false,
    };
    let body = stream::unfold(state, |mut state| async move {
        if let Some(preamble) = state.preamble.take() {
            return Some((Ok(Frame::data(preamble)), state));
        }
        if state.ended {
            return None;
        }
        let inbound = std::future::pending::<Inbound<std::convert::Infallible>>();
        let chunk = match state.driver.next(inbound).await {
            Step::Send(batch) => state.batch(&batch),
            Step::Heartbeat => Bytes::from_static(b": heartbeat\n\n"),
            // The browser's EventSource waits `retry` before reconnecting: the same spread
            // reconnect delay the WebSocket's close reason carries.
            Step::End(Ending::Close { retry_ms: Some(retry_ms), .. }) => {
                state.ended = true;
                Bytes::from(format!("retry: {retry_ms}\n\n"))
            }
            Step::End(_) => return None,
            Step::Received(never) => match never {},
        };
        Some((Ok::<_, std::convert::Infallible>(Frame::data(chunk)), state))
    });
    let mut response = Response::new(StreamBody::new(body).boxed());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Stops nginx from buffering the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The most messages written in one chunk.
const BATCH_MAX: usize = 256;

impl SseState {
    /// `batch` as one chunk.
    fn batch(&self, batch: &[Delivery]) -> Bytes {
        let mut chunk = BytesMut::new();
        let mut last_cursor = None;
        let mut bytes = 0;
        for delivery in batch {
            chunk.put_slice(&sse_event(delivery));
            bytes += delivery.bytes.len();
            last_cursor = delivery.cursor.or(last_cursor);
        }
        self.live.metrics.observe_sent(batch.len(), bytes);
        if let Some(cursor) = last_cursor {
            self.guard.set_cursor(cursor);
        }
        chunk.freeze()
    }
}

/// `GET /api/updates?since=<cursor>`: held until there is something newer than the cursor (or
/// the long-poll timeout), then answers a JSON array of messages.
pub(crate) async fn long_poll(
    live: Arc<Live>,
    request: &Request<Incoming>,
    remote: SocketAddr,
) -> Response<Body> {
    let (subscription, guard) = match open(&live, request, remote, ClientKind::LongPoll) {
        Ok(opened) => opened,
        Err(response) => return *response,
    };
    let mut shutdown = live.shutdown_signal();
    let mut messages: Vec<Bytes> = Vec::new();
    let mut has_state = false;
    let deadline = tokio::time::Instant::now() + live.config.long_poll_timeout;
    loop {
        while let Next::Message(delivery) = subscription.try_next() {
            has_state |= delivery.cursor.is_some();
            if let Some(cursor) = delivery.cursor {
                guard.set_cursor(cursor);
            }
            messages.push(delivery.bytes);
        }
        if has_state {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = crate::stopped(&mut shutdown) => break,
            next = subscription.next() => match next {
                Ok(delivery) => {
                    has_state |= delivery.cursor.is_some();
                    messages.push(delivery.bytes);
                }
                Err(_) => break,
            },
        }
    }
    let mut body = BytesMut::with_capacity(2 + messages.iter().map(|m| m.len() + 1).sum::<usize>());
    body.put_u8(b'[');
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(message);
    }
    live.metrics.observe_sent(messages.len(), messages.iter().map(Bytes::len).sum());
    body.put_u8(b']');
    drop(guard);
    json(StatusCode::OK, body.freeze())
}

#[cfg(test)]
mod tests {
    use gitops_hub::DeliveryKind;
    use gitops_protocol::{Epoch, ErrorCode, encode_error, encode_meta};

    use super::*;

    #[test]
    fn an_sse_event_is_named_by_the_message_kind() {
        let cursor = Cursor::new(Epoch(0xab), 7);
        let meta = encode_meta(cursor, &gitops_diff::Meta::new());
        let live = Delivery { bytes: meta.clone(), kind: DeliveryKind::Live, cursor: Some(cursor) };
        let mut want = b"id: 00000000000000ab:7\nevent: health-metrics-update\ndata: ".to_vec();
        want.extend_from_slice(&meta);
        want.extend_from_slice(b"\n\n");
        assert_eq!(sse_event(&live), want);

        let error = encode_error(ErrorCode::BadMessage, "no");
        let control = Delivery { bytes: error, kind: DeliveryKind::Control, cursor: None };
        assert!(sse_event(&control).starts_with(b"event: error\ndata: {"));

        let junk = Delivery {
            bytes: Bytes::from_static(b"{\"n\":1}"),
            kind: DeliveryKind::Control,
            cursor: None,
        };
        assert_eq!(sse_event(&junk), Bytes::from_static(b"event: message\ndata: {\"n\":1}\n\n"));
    }
}
